/**
 * Extensions: a tenant's phones dialled by their short number (100, 101, …) wherever a phone can
 * be dialled by name. Numbers are tenant-local, usernames switch-wide, so a leg naming a number is
 * turned into the tenant's phone of that number before it reaches the resolver; the leg keeps the
 * number as its dialled form, which records and results show.
 */
import type { DialSpec } from '../dialplan/types.ts';
import type { TenantScope } from '../store/index.ts';
import type { SipAccount } from '../store/sipAccounts.ts';

/** Extensions are digits that do not start with 0 (usernames start with a letter). */
export function isExtension(name: string): boolean {
  return /^[1-9]\d{1,5}$/.test(name);
}

/** The tenant's phone dialled as `extension`, or null. */
export async function phoneOfExtension(scope: TenantScope, extension: string): Promise<SipAccount | null> {
  return (await scope.sipAccounts.byExtension(extension)) ?? null;
}

/** The spec with each account leg that names an extension ringing that phone (an unknown number rings nobody). */
export async function resolveExtensions(spec: DialSpec, scope: TenantScope): Promise<DialSpec> {
  if (!spec.groups.some((g) => g.some((l) => l.kind === 'account' && isExtension(l.account)))) return spec;
  const groups = await Promise.all(
    spec.groups.map((group) =>
      Promise.all(
        group.map(async (leg) => {
          if (leg.kind !== 'account' || !isExtension(leg.account)) return leg;
          const phone = await phoneOfExtension(scope, leg.account);
          return phone ? { ...leg, account: phone.username } : leg;
        }),
      ),
    ),
  );
  return { ...spec, groups };
}
