/**
 * The registrations of some phones, from the paged `GET /registrations`: only the accounts a view
 * shows are asked for, so a tenant with thousands of phones never loads every binding at once.
 */
import { api, query } from '../api/client.ts';
import type { Registration } from '../api/types.ts';
import { useLoader, type Loaded } from '../useApi.ts';

/** The API's largest page; one account has a few bindings at most, so this is usually one request. */
const PAGE = 500;

interface RegistrationPage {
  items: Registration[];
  nextCursor: string | null;
}

async function bindingsOf(accountIds: string[]): Promise<Registration[]> {
  const ids = accountIds.map((id) => `accountId=${encodeURIComponent(id)}`).join('&');
  const items: Registration[] = [];
  let cursor: string | null = null;
  do {
    const page: RegistrationPage = await api.get<RegistrationPage>(`/registrations${query({ limit: PAGE, cursor })}&${ids}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/** Live bindings of `accountIds` (at most 100, which the API takes at once); none while the list is empty or null. */
export function useRegistrationsOf(accountIds: string[] | null, pollMs: number): Loaded<Registration[]> {
  const key = accountIds?.length ? accountIds.join(',') : null;
  return useLoader(key, () => bindingsOf(accountIds!), { pollMs });
}
