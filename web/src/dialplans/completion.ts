/**
 * Completion of the dialplan API in the editor: the sandbox's globals (`dial`, `call`, `store`, …),
 * their members after a dot (`call.from.`, `store.`, `now().`), and the members of a local that
 * holds an API function's result (`const r = await dial(…); r.`).
 */
import type { Completion, CompletionContext, CompletionResult, CompletionSource } from '@codemirror/autocomplete';
import { syntaxTree } from '@codemirror/language';
import type { ApiEntry, ApiModel } from './apiModel.ts';

const NOT_CODE = new Set(['String', 'TemplateString', 'LineComment', 'BlockComment', 'RegExp']);
const IDENT = '[A-Za-z_$][\\w$]*';
/** `call.from.us`, `now().ho`, `store.`: the dotted path before the cursor and the word being typed. */
const PATH_AT_END = new RegExp(`((?:${IDENT}(?:\\(\\))?\\s*\\.\\s*)*)(${IDENT})?$`);
const escape = (s: string) => s.replace(/[$]/g, '\\$');

function option(e: ApiEntry): Completion {
  return {
    label: e.name,
    type: e.kind === 'variable' ? 'variable' : e.kind,
    detail: e.detail,
    info: e.doc,
    boost: 1,
  };
}

/** The entry a local variable holds, when the script assigned it an API function's result. */
function localResult(model: ApiModel, doc: string, name: string): ApiEntry[] | undefined {
  const assigned = new RegExp(`(?:const|let|var)\\s+${escape(name)}\\s*=\\s*(?:await\\s+)?(${IDENT})\\s*\\(`).exec(doc);
  const fn = assigned && model.global(assigned[1]!);
  return fn?.kind === 'function' ? fn.returns() : undefined;
}

/** What `segments` (`['call', 'from']`, `['now()']`) leads to. */
function resolve(model: ApiModel, doc: string, segments: string[]): ApiEntry[] | undefined {
  const [first, ...rest] = segments;
  if (!first) return undefined;
  const called = first.endsWith('()');
  const name = called ? first.slice(0, -2) : first;
  const g = model.global(name);
  let members = g ? (called ? g.returns() : g.members()) : called ? undefined : localResult(model, doc, name);
  for (const seg of rest) {
    if (!members) return undefined;
    const segCalled = seg.endsWith('()');
    const m = members.find((x) => x.name === (segCalled ? seg.slice(0, -2) : seg));
    members = m && (segCalled ? m.returns() : m.members());
  }
  return members;
}

export function dialplanCompletion(model: ApiModel): CompletionSource {
  const globals = model.globals.map(option);
  return (ctx: CompletionContext): CompletionResult | null => {
    if (NOT_CODE.has(syntaxTree(ctx.state).resolveInner(ctx.pos, -1).name)) return null;
    const line = ctx.state.doc.lineAt(ctx.pos);
    const m = PATH_AT_END.exec(line.text.slice(0, ctx.pos - line.from));
    if (!m) return null;
    const word = m[2] ?? '';
    const from = ctx.pos - word.length;
    const segments = (m[1] ?? '')
      .split('.')
      .map((s) => s.replace(/\s+/g, ''))
      .filter(Boolean);
    if (segments.length === 0) {
      if (!word && !ctx.explicit) return null;
      // `x.y` typed after another dot (`a.b`) is a member, not a global.
      if (/\.\s*$/.test(line.text.slice(0, from - line.from))) return null;
      return { from, options: globals, validFor: /^[\w$]*$/ };
    }
    const members = resolve(model, ctx.state.doc.toString(), segments);
    if (!members?.length) return null;
    return { from, options: members.map(option), validFor: /^[\w$]*$/ };
  };
}
