/**
 * Warnings about a dialplan that compiles: what the editor can tell from the source alone, without
 * running it, and is almost surely a mistake. Read from the JavaScript syntax tree CodeMirror
 * already parses with, against the dialplan API of contract/dialplan-api.d.ts (the ApiModel):
 *
 * - code that never runs: a statement after `return`, `throw`, `break` or `continue` in the same
 *   block, and a call's verb (dial, respond, play, …) after `hangup()`, when nothing about the call
 *   can be done any more;
 * - a promise of the API used as if it were its value: `dial(…)` as a statement of its own, in a
 *   condition, or its result read (`dial(…).answered`, `const r = dial(…); r.answered`) without
 *   `await`;
 * - names that are neither the script's own, the dialplan API's nor JavaScript's (`dail(…)`), and
 *   members the API does not have (`call.form.user`).
 *
 * Each is a warning, not an error: the switch saves and runs such a dialplan, which fails or
 * misbehaves only when the call reaches that line.
 */
import type { SyntaxNode, Tree } from '@lezer/common';
import type { ApiEntry, ApiModel } from './apiModelBuilder.ts';

export interface SourceWarning {
  /** Offsets into the source. */
  from: number;
  to: number;
  message: string;
}

/** What an isolate offers besides the dialplan API (ECMAScript's globals). */
const JS_GLOBALS = new Set(
  (
    'globalThis Infinity NaN undefined Object Function Array Number parseFloat parseInt Boolean String Symbol Date Promise RegExp Error AggregateError ' +
    'EvalError RangeError ReferenceError SyntaxError TypeError URIError JSON Math Intl ArrayBuffer SharedArrayBuffer Uint8Array Int8Array Uint16Array Int16Array ' +
    'Uint32Array Int32Array Float32Array Float64Array Uint8ClampedArray BigUint64Array BigInt64Array DataView Map BigInt Set WeakMap WeakSet Proxy Reflect ' +
    'WeakRef FinalizationRegistry decodeURI decodeURIComponent encodeURI encodeURIComponent escape unescape eval isFinite isNaN Atomics Iterator arguments'
  ).split(' '),
);

/** Statements after which the rest of their block never runs. */
const JUMPS = new Set(['ReturnStatement', 'ThrowStatement', 'BreakStatement', 'ContinueStatement']);
/** Children of a block that are not statements that run in turn. */
const NOT_RUN = new Set(['{', '}', 'LineComment', 'BlockComment', 'FunctionDeclaration', 'CaseLabel', 'DefaultLabel', '⚠']);
/** What a promise's value is read through without it being a mistake. */
const PROMISE_METHODS = new Set(['then', 'catch', 'finally']);
/** The API's verbs that act on the call: after `hangup()` they cannot. */
const CALL_VERBS = new Set(['dial', 'respond', 'answer', 'play', 'collect', 'record', 'hangup']);

/** Nodes are fresh objects on each access: the same node is the same place and kind. */
const isFirstChild = (parent: SyntaxNode, n: SyntaxNode) => parent.firstChild?.from === n.from && parent.firstChild.to === n.to && parent.firstChild.name === n.name;

function children(n: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = n.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

function each(n: SyntaxNode, visit: (n: SyntaxNode) => void): void {
  visit(n);
  for (let c = n.firstChild; c; c = c.nextSibling) each(c, visit);
}

/** The closest names by edit distance (at most 2), for "did you mean". */
function closest(name: string, candidates: string[]): string | undefined {
  // Edits, with two neighbours swapped counting as one (`dail` is one from `dial`).
  const distance = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        const cost = a[i - 1] === b[j - 1] ? 0 : 1;
        d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
      }
    }
    return d[a.length]![b.length]!;
  };
  let best: [string, number] | undefined;
  for (const c of candidates) {
    const d = distance(name.toLowerCase(), c.toLowerCase());
    if (d <= 2 && (!best || d < best[1])) best = [c, d];
  }
  return best?.[0];
}

export function dialplanWarnings(source: string, tree: Tree, model: ApiModel): SourceWarning[] {
  const text = (n: SyntaxNode) => source.slice(n.from, n.to);
  const warnings: SourceWarning[] = [];
  const warn = (n: SyntaxNode, message: string) => warnings.push({ from: n.from, to: n.to, message });
  const top = tree.topNode;

  // The script's own names (any scope: a name defined anywhere is not reported as unknown).
  const own = new Set<string>();
  /** Own names defined other than as a parameter: those shadow an API global of that name. */
  const ownNotParam = new Set<string>();
  each(top, (n) => {
    if (n.name !== 'VariableDefinition') return;
    own.add(text(n));
    if (n.parent?.name !== 'ParamList') ownNotParam.add(text(n));
  });
  /** The API global a name stands for: not one the script defines itself (but `call` may be its function's parameter). */
  const api = (name: string): ApiEntry | undefined => (ownNotParam.has(name) || (own.has(name) && name !== 'call') ? undefined : model.global(name));
  const isAsyncApi = (name: string) => {
    const g = api(name);
    return g?.kind === 'function' && /=>\s*Promise</.test(g.detail);
  };
  const globalNames = model.globals.map((g) => g.name);

  // Names whose value is a promise of the API kept without `await` (`const r = dial(…)`).
  const promiseHolders = new Map<string, string>();

  each(top, (n) => {
    // Code that never runs.
    if (n.name === 'Block' || n.name === 'SwitchBody' || n.name === 'Script') {
      const list = children(n);
      let hungUp = false;
      for (let i = 0; i < list.length; i++) {
        const s = list[i]!;
        if (JUMPS.has(s.name)) {
          const next = list.slice(i + 1).find((c) => !NOT_RUN.has(c.name));
          const label = list.slice(i + 1).find((c) => c.name === 'CaseLabel' || c.name === 'DefaultLabel');
          if (next && (!label || next.from < label.from)) {
            warn(next, `Unreachable code: this never runs, it follows a ${text(s.firstChild!)} on line ${lineOf(source, s.from)}.`);
          }
          break;
        }
        if (!hungUp && s.name === 'ExpressionStatement' && hangsUp(s)) {
          hungUp = true;
          const label = list.slice(i + 1).find((c) => c.name === 'CaseLabel' || c.name === 'DefaultLabel');
          const after = list.slice(i + 1).find((c) => !NOT_RUN.has(c.name) && usesCallVerb(c) && (!label || c.from < label.from));
          if (after) warn(after, `The call is over here: after hangup() on line ${lineOf(source, s.from)}, nothing about the call can be done.`);
        }
      }
    }

    // A promise of the API used as its value.
    if (n.name === 'CallExpression') {
      const callee = n.firstChild;
      if (callee?.name !== 'VariableName' || !isAsyncApi(text(callee))) return;
      const fn = text(callee);
      const parent = n.parent;
      const hint = `write \`await ${fn}(…)\``;
      if (parent?.name === 'ExpressionStatement') {
        warn(n, `${fn}() is not awaited: the dialplan goes on (and may end) before it is done; ${hint}.`);
      } else if (parent?.name === 'MemberExpression' && isFirstChild(parent, n)) {
        const prop = parent.getChild('PropertyName');
        if (prop && !PROMISE_METHODS.has(text(prop))) warn(n, `${fn}() gives a promise, which has no \`${text(prop)}\`; ${hint} and read its result.`);
      } else if (
        (parent?.name === 'UnaryExpression' && text(parent).startsWith('!')) ||
        (parent?.name === 'ParenthesizedExpression' && /^(If|While|DoWhile)Statement$/.test(parent.parent?.name ?? ''))
      ) {
        warn(n, `${fn}() gives a promise, which is always true in a condition; ${hint}.`);
      } else if (parent?.name === 'VariableDeclaration') {
        const name = n.prevSibling?.prevSibling;
        if (name?.name === 'VariableDefinition') promiseHolders.set(text(name), fn);
      }
    }
  });

  each(top, (n) => {
    if (n.name === 'VariableName') {
      const name = text(n);
      // A promise held without `await`, read as if it were the result.
      const fn = promiseHolders.get(name);
      const parent = n.parent;
      if (fn && parent?.name === 'MemberExpression' && isFirstChild(parent, n)) {
        const prop = parent.getChild('PropertyName');
        if (prop && !PROMISE_METHODS.has(text(prop)))
          warn(parent, `${name} holds the promise of ${fn}(), which has no \`${text(prop)}\`: write \`const ${name} = await ${fn}(…)\`.`);
      }
      if (own.has(name) || model.global(name) || JS_GLOBALS.has(name)) return;
      const near = closest(name, globalNames);
      warn(n, `\`${name}\` is not defined: it is not the dialplan's own nor part of the dialplan API${near ? ` (did you mean \`${near}\`?)` : ''}.`);
      return;
    }
    // A member of the API that does not exist (`call.form`), checked along a chain from an API global.
    if (n.name === 'MemberExpression' && n.parent?.name !== 'MemberExpression') {
      const chain: SyntaxNode[] = [];
      let at: SyntaxNode | null = n;
      while (at?.name === 'MemberExpression') {
        const prop = at.getChild('PropertyName');
        if (!prop) return; // computed (`x[k]`): not checked
        chain.unshift(prop);
        at = at.firstChild;
      }
      if (at?.name !== 'VariableName') return;
      const root = api(text(at));
      if (!root || root.kind === 'function') return;
      let members = root.members();
      let path = text(at);
      for (const prop of chain) {
        if (!members.length) return; // a type the model does not list (a string, an index signature)
        const m = members.find((x) => x.name === text(prop));
        if (!m) {
          warn(prop, `\`${path}\` has no \`${text(prop)}\` (it has ${members.map((x) => x.name).join(', ')}).`);
          return;
        }
        members = m.kind === 'method' ? [] : m.members();
        path = `${path}.${text(prop)}`;
      }
    }
  });

  return warnings.sort((a, b) => a.from - b.from);

  function hangsUp(statement: SyntaxNode): boolean {
    let e = statement.firstChild;
    if (e?.name === 'AwaitExpression') e = e.lastChild;
    return e?.name === 'CallExpression' && e.firstChild?.name === 'VariableName' && text(e.firstChild) === 'hangup' && Boolean(api('hangup'));
  }

  function usesCallVerb(statement: SyntaxNode): boolean {
    let found = false;
    each(statement, (c) => {
      if (c.name === 'CallExpression' && c.firstChild?.name === 'VariableName' && CALL_VERBS.has(text(c.firstChild)) && api(text(c.firstChild))) found = true;
    });
    return found;
  }
}

/** The 1-based line of an offset. */
export function lineOf(source: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < source.length; i++) if (source.charCodeAt(i) === 10) line++;
  return line;
}
