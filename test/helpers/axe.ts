/**
 * axe-core in the page: its serious and critical violations, one line each. The script is added
 * as a script of its own, which the portal's content security policy refuses: pages checked with
 * it are opened in a context with `bypassCSP` (the policy itself is tested in test/e2e/portal.test.ts).
 */
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/** Serious and critical axe-core violations on the page as it is now, or in the parts `within` selects. */
export async function seriousViolations(page: Page, within?: string[]): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async (include) => {
    const run = (window as unknown as { axe: { run(ctx: Document | { include: string[] }, o: object): Promise<{ violations: AxeViolation[] }> } }).axe.run;
    return (await run(include ? { include } : document, { resultTypes: ['violations'] })).violations;
  }, within);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.help}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
