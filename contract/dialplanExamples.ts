/**
 * The dialplan editor's gallery: small, commented dialplans for common wishes, each a complete
 * default dialplan to start from (test/api/dialplanExamples.test.ts compiles and runs each one).
 */
export interface DialplanExample {
  id: string;
  title: string;
  summary: string;
  source: string;
}

export const DIALPLAN_EXAMPLES: readonly DialplanExample[] = [
  {
    id: 'ring-group',
    title: 'Ring group',
    summary: 'Calls to 200 ring three phones at once; the first to answer takes the call.',
    source: `// Ring group: 200 rings the whole team at once; other numbers ring the phone dialled.
export default async function (call) {
  if (call.to.user === '200') {
    // "&" rings legs in parallel; the first to answer wins, the others stop ringing.
    return dial('100 & 101 & 102', { timeout: 25 });
  }
  await dial(call.to.user, { timeout: 20 });
}
`,
  },
  {
    id: 'menu',
    title: 'Menu',
    summary: 'Calls from your provider hear your "menu" prompt: 1 rings sales, 2 rings support, anything else or nothing leaves a message.',
    source: `// Menu: "press 1 for sales, 2 for support". Upload a prompt named "menu" (and one named
// "leave-a-message") on the Prompts page first; the test run beside the editor takes the digits.
export default async function (call) {
  if (call.direction !== 'in') return dial(call.to.user, { timeout: 20 });
  await answer();
  // The prompt stops at the first digit; then up to 5 seconds to press one.
  const choice = await collect({ digits: 1, timeout: 5, prompt: 'menu' });
  log(\`menu: \${choice || 'no choice'}\`);
  if (choice === '1') return dial('100', { timeout: 20 });
  if (choice === '2') return dial('101 & 102', { timeout: 20 });
  // Voicemail: the recording is listed on the Recordings page and with the call's record.
  await play('leave-a-message');
  await record({ maxSeconds: 60 });
  await hangup();
}
`,
  },
  {
    id: 'office-hours',
    title: 'Office hours',
    summary: 'Calls from your provider ring the office on weekdays 9–17 and are told the office is closed otherwise.',
    source: `// Office hours, in your time zone (Settings): weekdays 09:00-17:00.
export default async function (call) {
  const t = now();
  const weekday = t.weekday >= 1 && t.weekday <= 5;
  const open = weekday && t.hour >= 9 && t.hour < 17;
  if (call.direction === 'in' && !open) {
    log(\`closed: \${t.iso}\`);
    return respond(480, 'Office Closed');
  }
  await dial(call.direction === 'in' ? '100 & 101' : call.to.user, { timeout: 20 });
}
`,
  },
  {
    id: 'blocklist',
    title: 'Blocklist',
    summary: 'Numbers kept in the store under block: are refused; add one with store.set.',
    source: `// Blocklist: refuse callers whose number is kept under "block:<number>" in the store.
// Add a number from any dialplan run: await store.set('block:0301234567', true);
export default async function (call) {
  if (await store.get(\`block:\${call.from.user}\`)) {
    log(\`blocked \${call.from.user}\`);
    return respond(403, 'Blocked');
  }
  await dial(call.direction === 'in' ? '100' : call.to.user, { timeout: 20 });
}
`,
  },
  {
    id: 'failover',
    title: 'Failover between providers',
    summary: 'Numbers go out through the first provider; if it fails, the second one is tried.',
    source: `// Failover: numbers go to "main"; "|" tries "backup" only if every leg before it failed.
// Name your providers main and backup on the Providers page (or change the names below).
export default async function (call) {
  if (/^\\+?\\d{6,15}$/.test(call.to.user)) {
    const r = await dial(\`\${call.to.user}@main | \${call.to.user}@backup\`, { timeout: 60 });
    log(\`out: \${r.result}\`);
    return;
  }
  await dial(call.to.user, { timeout: 20 });
}
`,
  },
];
