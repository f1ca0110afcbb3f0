import { createHash } from 'node:crypto';

/** Sources whose keys are remembered, in characters (the strings are mostly the store cache's own). */
const MAX_CHARS = 16 * 1024 * 1024;

interface Known {
  source: string;
  key: string;
}

/**
 * Names each dialplan version for the workers, which keep prepared dialplans and warm contexts by
 * it: a hash of its name, number and source, so that a new version (even with the same source)
 * never meets an old one's context. The hash is remembered per tenant, dialplan and version, and
 * used again only for the very same source: a test run is version 0 with whatever is being
 * edited, and one version's source never changes otherwise. (Hashing every execution's source
 * cost the dispatcher more than a host call's validation.)
 */
export class VersionKeys {
  /** Least recently used first. */
  private readonly known = new Map<string, Known>();
  private chars = 0;

  keyOf(tenantId: string, dialplan: { name: string; version: number; source: string }): string {
    const { name, version, source } = dialplan;
    const id = `${tenantId}\0${name}\0${version}`;
    const found = this.known.get(id);
    if (found) {
      this.known.delete(id);
      this.chars -= found.source.length;
    }
    const key = found?.source === source ? found.key : createHash('sha256').update(`${name}\0${version}\0`).update(source).digest('base64url');
    this.known.set(id, { source, key });
    this.chars += source.length;
    while (this.chars > MAX_CHARS && this.known.size > 1) {
      const [oldest, entry] = this.known.entries().next().value as [string, Known];
      this.known.delete(oldest);
      this.chars -= entry.source.length;
    }
    return key;
  }
}
