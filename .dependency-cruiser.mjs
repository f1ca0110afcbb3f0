/**
 * The direction of dependencies between the folders (`npm run lint:deps`; DESIGN.md, "Processes"):
 *
 *   composition root (server/*.ts) → api → cdr → calls → providers, dialplan, media → sip → store
 *                                                                                          ↓
 *                                      observability, domain → contract (what portal and server share)
 *
 * `worker/` shares only its protocol types (worker/protocol.ts, imported by server/dialplan);
 * `web/` reaches the server only through the HTTP API and imports only `contract/`; `test/` and
 * `bench/` may import anything, and nothing imports them. Type-only imports count: a layer that
 * needs a type of a layer above it has that type in the wrong place. Edges that break a rule
 * today and are someone else's to move are listed, one by one, in
 * .dependency-cruiser-known-violations.json; any other breaks the build.
 */

const ROOT = '^server/[^/]+$';
const layer = (...names) => `^server/(${names.join('|')})/`;
const either = (...res) => res.map((r) => `(${r})`).join('|');

/** A rule forbidding the files under `from` to import those under `to`. */
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: to } });

export default {
  forbidden: [
    {
      name: 'contract-depends-on-nothing',
      comment: 'contract/ is read by the server and bundled into the portal: it imports nothing but itself (no npm packages, no Node built-ins).',
      severity: 'error',
      from: { path: '^contract/' },
      to: { pathNot: '^contract/' },
    },
    {
      name: 'domain-depends-on-nothing',
      comment: 'server/domain/ is importable by every layer, so it imports nothing but itself and the contract.',
      severity: 'error',
      from: { path: '^server/domain/' },
      to: { pathNot: '^(server/domain|contract)/' },
    },
    forbid(
      'observability-is-a-leaf',
      'Logging and metrics are used by every layer and use none.',
      '^server/observability/',
      either(layer('api', 'cdr', 'calls', 'providers', 'dialplan', 'media', 'sip', 'store'), ROOT),
    ),
    forbid(
      'store-is-the-bottom',
      'The data layer knows no subsystem above it: what it stores is described by its own types, the domain or the contract.',
      '^server/store/',
      either(layer('api', 'cdr', 'calls', 'providers', 'dialplan', 'media', 'sip'), ROOT),
    ),
    forbid(
      'sip-below-its-users',
      'The SIP stack, registrar and authentication serve calls and providers and know neither.',
      '^server/sip/',
      either(layer('api', 'cdr', 'calls', 'providers', 'dialplan', 'media'), ROOT),
    ),
    forbid(
      'providers-below-calls',
      'Trunks use the SIP stack and the store; calls use them.',
      '^server/providers/',
      either(layer('api', 'cdr', 'calls', 'dialplan', 'media'), ROOT),
    ),
    forbid(
      'dialplan-below-calls',
      'The dialplan runner reaches calls only through the interfaces it declares.',
      '^server/dialplan/',
      either(layer('api', 'cdr', 'calls', 'providers', 'media', 'sip'), ROOT),
    ),
    forbid(
      'media-below-calls',
      'Media engines are driven by calls and know nothing of routing.',
      '^server/media/',
      either(layer('api', 'cdr', 'calls', 'providers', 'dialplan'), ROOT),
    ),
    forbid(
      'calls-never-write-records',
      'Call handling emits events; call records are a consumer of them (server/cdr/), never called from calls.',
      '^server/calls/',
      either(layer('api', 'cdr'), ROOT),
    ),
    forbid('cdr-consumes-events', 'The record writer reads call events and writes through the store.', '^server/cdr/', either(layer('api'), ROOT)),
    forbid('api-below-the-composition-root', 'The API may read the configuration, not the code that assembles the switch.', '^server/api/', '^server/(?!config\\.ts$)[^/]+$'),
    {
      name: 'only-dialplan-talks-to-workers',
      comment: 'Worker processes are reached by the dialplan runner alone, through the IPC protocol types.',
      severity: 'error',
      from: { path: '^server/', pathNot: '^server/dialplan/' },
      to: { path: '^worker/' },
    },
    {
      name: 'workers-share-only-their-protocol',
      comment: 'Of worker/, the server imports only the IPC protocol types.',
      severity: 'error',
      from: { path: '^server/' },
      to: { path: '^worker/', pathNot: '^worker/protocol\\.ts$' },
    },
    forbid('workers-stand-alone', 'A worker has no database, sockets or call state: it imports nothing of the server or the portal.', '^worker/', '^(server|web)/'),
    forbid(
      'portal-only-through-the-contract',
      'The portal talks to the server over HTTP; the only code it shares is contract/.',
      '^web/src/',
      '^(server|worker|test|bench|web/scripts)/',
    ),
    {
      name: 'portal-runs-in-a-browser',
      comment: 'The portal is bundled for browsers: no Node built-ins.',
      severity: 'error',
      from: { path: '^web/src/' },
      to: { dependencyTypes: ['core'] },
    },
    forbid('nothing-imports-the-portal', 'The server serves the built portal as files; it never imports its code.', '^(server|worker|contract)/', '^web/'),
    {
      name: 'nothing-imports-tests',
      comment: 'Tests and benchmarks may import anything; nothing imports them.',
      severity: 'error',
      from: { pathNot: '^(test|bench)/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'no-circular-at-run-time',
      comment: 'Modules that import each other at run time (type-only imports aside) depend on the order ES modules are evaluated in.',
      severity: 'error',
      from: { path: '^(server|worker|contract|web)/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'no-unresolvable-imports',
      comment: 'An import that resolves to nothing.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(web/dist|data|dist|test-artifacts|bench-results)/' },
    // Type-only imports are dependencies too (a layer importing a type from above is still upside down).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.tsx', '.js', '.d.ts'],
      // ESM-only packages (uuid, vite) resolve through their "exports" field.
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
