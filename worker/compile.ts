import ivm from 'isolated-vm';

/** Name given to tenant scripts; stack frames and syntax errors refer to it. */
export const DIALPLAN_FILENAME = 'dialplan.js';

const MAX_ERROR_CHARS = 2000;

/** A dialplan turned into a classic script, or why it cannot run (1-based position in the source). */
/** `lines`: how many lines the source has; frames below them are the prelude's. */
export type Prepared = { ok: true; code: string; lines: number } | { ok: false; message: string; line: number; column: number };

/**
 * The binding that holds the default export in the prepared script. A tenant who declares this
 * name at the top level gets a duplicate-declaration error; nothing else depends on it.
 */
export const DEFAULT_BINDING = '$default';

/**
 * The script wraps the dialplan in a strict async function (strict like a module, top-level
 * `await` still works, top-level declarations stay local) on a line of its own, compiled with
 * `lineOffset: -1` so that lines and columns are those of the tenant's source. Its completion
 * value is the wrapper; calling it evaluates the top level and resolves to the default export.
 */
const WRAPPER_HEAD = "(async function () {'use strict';\n";
const wrapperTail = (binding: string) => `\n;return ${binding};\n})`;
export const SCRIPT_ORIGIN = { filename: DIALPLAN_FILENAME, lineOffset: -1 } as const;

/** Each `export` costs one parse to find; past this many the source is refused. */
const MAX_EXPORTS = 32;

/**
 * A dialplan that could never handle a call is refused as well, so that saving one cannot leave a
 * tenant with every call failing: an empty source, or one without a default export. (A default
 * export that is not a function, `export default 42`, shows only when the top level runs.)
 */
const EMPTY = 'the dialplan is empty: it must export a default function, e.g. export default async function (call) { … }';
const NO_DEFAULT_EXPORT = 'a dialplan must export a default function: export default async function (call) { … }';

/**
 * Turns tenant dialplans (ES modules by contract: `export default async function (call) {…}`)
 * into classic scripts, and syntax-checks them, in an isolate of its own: parsing runs no tenant
 * code, so one isolate serves every tenant, and it is replaced if a source exhausts it.
 *
 * Why scripts: isolated-vm 5 keeps a per-isolate table of modules without a lock. Evaluating
 * `import.meta` makes the isolate's thread search it while the worker's main thread may be
 * releasing another module (SIGSEGV/SIGABRT), and compiling one adds to it. Tenant isolates
 * therefore never see a module: in a script `import.meta` and `import` declarations are syntax
 * errors, in V8's own parser, so comments, strings, templates and regular expressions cannot hide
 * them, and code built at run time by `eval`/`Function` is script code too. Dynamic `import()` is
 * valid in scripts, but isolated-vm registers no handler for it: V8 rejects it ("Not supported")
 * without touching the table. A script also compiles once per isolate and runs in every fresh
 * context, which a module (bound to one context at instantiation) cannot.
 *
 * The only module left is the grammar check here: the source is compiled as a module first, so
 * exactly what was a valid dialplan stays one (nested `export`, top-level `return`, HTML comments
 * are still refused) and imports are reported by specifier. That module is never instantiated, and
 * work here is serialised, so the table is never touched from two threads.
 *
 * The exports are then found by V8 as well: compiled as a script, the source fails at its first
 * `export` token with its exact position; that statement's head is rewritten in place (same
 * length, same line breaks, so every later position is unchanged) and the parse repeats.
 */
export class Compiler {
  private isolate: ivm.Isolate | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly heapMb: number) {}

  /** Never rejects: whatever goes wrong is the dialplan's error. */
  prepare(source: string): Promise<Prepared> {
    const work = this.queue.then(() => this.prepareNow(source)).catch(compileError);
    this.queue = work;
    return work;
  }

  private async prepareNow(source: string): Promise<Prepared> {
    if (source.trim() === '') return { ok: false, message: EMPTY, line: 1, column: 1 };
    if (!this.isolate || this.isolate.isDisposed) this.isolate = new ivm.Isolate({ memoryLimit: this.heapMb });
    const isolate = this.isolate;
    let module: ivm.Module;
    try {
      module = await isolate.compileModule(source, { filename: DIALPLAN_FILENAME });
    } catch (err) {
      return compileError(err);
    }
    const imports = module.dependencySpecifiers;
    module.release();
    if (imports.length > 0) {
      const at = positionOf(source, imports[0] ?? '');
      return { ok: false, message: `imports are not available in dialplans (import '${imports[0]}')`, ...at };
    }

    let code = source;
    let binding: string | null = null;
    for (let exports = 0; ; exports++) {
      let failure: Prepared & { ok: false };
      try {
        const prepared = WRAPPER_HEAD + code + wrapperTail(binding ?? 'undefined');
        const script = await isolate.compileScript(prepared, SCRIPT_ORIGIN);
        script.release();
        // Syntax errors first: they say more than a missing export.
        if (binding === null) return { ok: false, message: NO_DEFAULT_EXPORT, line: 1, column: 1 };
        return { ok: true, code: prepared, lines: source.split(LINE_TERMINATOR).length };
      } catch (err) {
        failure = compileError(err);
      }
      if (failure.message === "SyntaxError: Cannot use 'import.meta' outside a module") {
        return { ...failure, message: 'import.meta is not available in dialplans' };
      }
      const at = offsetOf(code, failure.line, failure.column);
      if (failure.message !== "SyntaxError: Unexpected token 'export'" || !code.startsWith('export', at)) return failure;
      if (exports === MAX_EXPORTS) {
        return { ok: false, message: `too many export statements (limit ${MAX_EXPORTS})`, line: failure.line, column: failure.column };
      }
      const rewrite = rewriteExport(code, at);
      if ('refused' in rewrite) return { ok: false, message: rewrite.refused, line: failure.line, column: failure.column };
      code = rewrite.code;
      if (rewrite.binding) binding = rewrite.binding;
    }
  }
}

function compileError(err: unknown): Prepared & { ok: false } {
  const name = err instanceof Error && err.name !== 'Error' ? `${err.name}: ` : '';
  const found = locate(name + (err instanceof Error ? err.message : String(err)), '');
  return { ok: false, message: found.message, line: found.line ?? 1, column: found.column ?? 1 };
}

function positionOf(source: string, specifier: string): { line: number; column: number } {
  const index = Math.max(0, source.indexOf(specifier));
  const before = source.slice(0, index).split(LINE_TERMINATOR);
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

/** V8's line terminators; columns count UTF-16 units from 1. */
const LINE_TERMINATOR = /\r\n|[\n\r\u2028\u2029]/;

export function offsetOf(code: string, line: number, column: number): number {
  const terminators = new RegExp(LINE_TERMINATOR.source, 'g');
  let start = 0;
  for (let l = 1; l < line; l++) {
    const found = terminators.exec(code);
    if (!found) return code.length;
    start = found.index + found[0].length;
  }
  return start + column - 1;
}

const IDENTIFIER = /(?:[\p{ID_Start}$_]|\\u[0-9a-fA-F]{4}|\\u\{[0-9a-fA-F]+\})(?:[\p{ID_Continue}$\u200c\u200d]|\\u[0-9a-fA-F]{4}|\\u\{[0-9a-fA-F]+\})*/uy;
// eslint-disable-next-line no-misleading-character-class -- ZWNJ and ZWJ are identifier parts on their own (ECMA-262), not a joined sequence
const IDENTIFIER_PART = /[\p{ID_Continue}$\u200c\u200d\\]/u;

/**
 * Skips white space and comments from `i`, which must be between two tokens (here always right
 * after a keyword that V8 located), so no string, template or regular expression can start there.
 */
function skipTrivia(code: string, i: number): number {
  for (;;) {
    while (i < code.length && /\s/.test(code[i] ?? '')) i++;
    if (code.startsWith('//', i)) {
      const end = code.slice(i).search(LINE_TERMINATOR);
      i = end < 0 ? code.length : i + end;
    } else if (code.startsWith('/*', i)) {
      const end = code.indexOf('*/', i + 2);
      i = end < 0 ? code.length : end + 2;
    } else {
      return i;
    }
  }
}

function keywordAt(code: string, i: number, word: string): boolean {
  return code.startsWith(word, i) && !IDENTIFIER_PART.test(code[i + word.length] ?? '');
}

function identifierAt(code: string, i: number): string | null {
  IDENTIFIER.lastIndex = i;
  return IDENTIFIER.exec(code)?.[0] ?? null;
}

/**
 * Replaces `code[from, to)` with `text`, keeping its line breaks and the length of its last line,
 * so that every position after it is what it was.
 */
function splice(code: string, from: number, to: number, text: string): string {
  const old = code.slice(from, to);
  const breaks = old.match(new RegExp(LINE_TERMINATOR.source, 'g')) ?? [];
  let replacement: string;
  if (breaks.length === 0) {
    replacement = text.padEnd(old.length);
  } else {
    const lastLine = old.split(LINE_TERMINATOR).at(-1) ?? '';
    replacement = text + breaks.join('') + ' '.repeat(lastLine.length);
  }
  return code.slice(0, from) + replacement + code.slice(to);
}

type Rewrite = { code: string; binding?: string } | { refused: string };

/**
 * Rewrites the export statement whose `export` keyword starts at `at` (a valid module's, so at the
 * top level) into plain script code:
 *   export default function f / class C …   → function f / class C …       (binding f / C)
 *   export default [async] function[*] (…   → [async] function[*] $default (…
 *   export default class [extends …] {      → class $default [extends …] {
 *   export default <expression>             → var $default = <expression>  (same ASI as before)
 *   export <declaration>                    → <declaration>
 * Export lists (`export { a as b }`) are refused: nothing reads named exports anyway.
 */
function rewriteExport(code: string, at: number): Rewrite {
  const afterExport = skipTrivia(code, at + 'export'.length);
  if (!keywordAt(code, afterExport, 'default')) {
    if (code[afterExport] === '{') return { refused: 'export lists are not supported in dialplans: use `export default`' };
    return { code: splice(code, at, afterExport, '') };
  }
  const head = skipTrivia(code, afterExport + 'default'.length);
  let i = head;
  let kind: string;
  if (keywordAt(code, i, 'class')) {
    kind = 'class';
    i += kind.length;
  } else {
    let prefix = '';
    if (keywordAt(code, i, 'async') && keywordAt(code, skipTrivia(code, i + 5), 'function')) {
      prefix = 'async ';
      i = skipTrivia(code, i + 5);
    }
    if (!keywordAt(code, i, 'function')) return { code: splice(code, at, head, `var ${DEFAULT_BINDING} = `), binding: DEFAULT_BINDING };
    i = skipTrivia(code, i + 'function'.length);
    kind = `${prefix}function`;
    if (code[i] === '*') {
      kind += '*';
      i += 1;
    }
  }
  const nameAt = skipTrivia(code, i);
  const name = kind === 'class' && keywordAt(code, nameAt, 'extends') ? null : identifierAt(code, nameAt);
  if (name) return { code: splice(code, at, head, ''), binding: name };
  return { code: splice(code, at, nameAt, `${kind} ${DEFAULT_BINDING} `), binding: DEFAULT_BINDING };
}

const POSITION_IN_MESSAGE = new RegExp(`\\s*\\[${DIALPLAN_FILENAME.replace('.', '\\.')}:(\\d+):(\\d+)\\]`);
const POSITION_IN_STACK = new RegExp(`${DIALPLAN_FILENAME.replace('.', '\\.')}:(\\d+):(\\d+)`, 'g');

/**
 * Finds where in the tenant's source an error happened: compile errors carry `[dialplan.js:L:C]`
 * in their message, runtime errors in their first stack frame in the tenant's lines (up to
 * `lastLine`; the prelude follows them in the same script).
 */
export function locate(rawMessage: string, stack: string, lastLine = Infinity): { message: string; line?: number; column?: number } {
  const message = rawMessage.replace(POSITION_IN_MESSAGE, '').slice(0, MAX_ERROR_CHARS);
  const inMessage = POSITION_IN_MESSAGE.exec(rawMessage);
  if (inMessage) return { message, line: Number(inMessage[1]), column: Number(inMessage[2]) };
  for (const frame of stack.matchAll(POSITION_IN_STACK)) {
    const line = Number(frame[1]);
    if (line >= 1 && line <= lastLine) return { message, line, column: Number(frame[2]) };
  }
  return { message };
}
