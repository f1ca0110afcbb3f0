import ivm from 'isolated-vm';
import { DIALPLAN_FILENAME, locate } from './sandbox.ts';

export type CompileOutcome = { ok: true } | { ok: false; message: string; line: number; column: number };

/**
 * Syntax-checks tenant sources in an isolate of their own: parsing runs no tenant code, so one
 * isolate can serve every tenant, and it is replaced if a source exhausts it.
 */
export class Compiler {
  private isolate: ivm.Isolate | null = null;

  constructor(private readonly heapMb: number) {}

  async compile(source: string): Promise<CompileOutcome> {
    if (!this.isolate || this.isolate.isDisposed) this.isolate = new ivm.Isolate({ memoryLimit: this.heapMb });
    let module: ivm.Module;
    try {
      module = await this.isolate.compileModule(source, { filename: DIALPLAN_FILENAME });
    } catch (err) {
      const name = err instanceof Error && err.name !== 'Error' ? `${err.name}: ` : '';
      const found = locate(name + (err instanceof Error ? err.message : String(err)), '');
      return { ok: false, message: found.message, line: found.line ?? 1, column: found.column ?? 1 };
    }
    const imports = module.dependencySpecifiers;
    module.release();
    if (imports.length > 0) {
      const at = positionOf(source, imports[0] ?? '');
      return { ok: false, message: `imports are not available in dialplans (import '${imports[0]}')`, ...at };
    }
    return { ok: true };
  }
}

function positionOf(source: string, specifier: string): { line: number; column: number } {
  const index = Math.max(0, source.indexOf(specifier));
  const before = source.slice(0, index).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}
