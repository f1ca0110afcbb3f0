/**
 * From and header templates of a provider: text with `{variable}` placeholders filled per call,
 * e.g. From user `{caller}` or a fixed number, a header `X-Account: {username}`. The variables
 * are few and named, so a typo is caught when the provider is saved, not on a call.
 */
import { headerSafe } from '../sip/wireValues.ts';

export const TEMPLATE_VARIABLES = {
  caller: "the caller's number or user (the dial's callerId option when it sets one)",
  callerName: "the caller's display name",
  number: 'the number dialled at the provider',
  username: "the provider's username",
} as const;

export type TemplateVariable = keyof typeof TEMPLATE_VARIABLES;
export type TemplateValues = Record<TemplateVariable, string>;

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Problems with a template, in words; empty when it is fine. */
export function templateProblems(template: string): string[] {
  const problems: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (!(m[1]! in TEMPLATE_VARIABLES))
      problems.push(
        `unknown variable {${m[1]}}; known: ${Object.keys(TEMPLATE_VARIABLES)
          .map((v) => `{${v}}`)
          .join(', ')}`,
      );
  }
  if (/[\r\n]/.test(template)) problems.push('must be on one line');
  return problems;
}

export function renderTemplate(template: string, values: TemplateValues): string {
  // Values come from callers (display names, numbers): no control character may reach a header.
  return template.replace(PLACEHOLDER, (_, name: string) => headerSafe(values[name as TemplateVariable] ?? ''));
}
