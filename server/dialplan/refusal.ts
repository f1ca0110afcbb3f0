import type { RefusalKind } from './types.ts';

/**
 * The reason phrase of the 503 a caller gets when the engine refuses to run the dialplan: it says
 * which refusal it was, so the caller's side (and whoever reads its logs) can tell a tenant whose
 * dialplans are suspended from one that is busy or an engine that is overloaded.
 */
export function refusalReason(kind: RefusalKind | undefined): string {
  switch (kind) {
    case 'suspended':
      return 'Dialplans Suspended After Crashing The Engine';
    case 'tenant_limit':
      return 'Too Many Concurrent Dialplans';
    case 'overload':
      return 'Dialplan Engine Overloaded';
    case 'unavailable':
    case undefined:
      return 'Dialplan Engine Unavailable';
  }
}
