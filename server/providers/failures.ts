/** A provider's SIP answer in words a tenant can act on. */
import type { Provider } from '../store/providers.ts';

export function describeFailure(status: number, reason: string, p: Pick<Provider, 'host' | 'username' | 'authUsername'>): string {
  const code = `${status} ${reason}`.trim();
  const user = p.authUsername ?? p.username ?? '(no username)';
  switch (status) {
    case 401:
    case 407:
      return `${p.host} did not accept the credentials of ${user} (${code}): check the username, auth username and password`;
    case 403:
      return `${p.host} refused ${user} (${code}): the account is unknown or not allowed to register; check the username and password, then save the provider to retry`;
    case 404:
      return `${p.host} does not know ${user} (${code}): check the username and the domain, then save the provider to retry`;
    case 408:
      return `${p.host} did not answer (${code}): it may be down or unreachable; retrying`;
    case 423:
      return `${p.host} wants a longer registration interval than allowed (${code})`;
    case 503:
      return `${p.host} is unavailable (${code}); retrying`;
    default:
      return `${p.host} answered ${code}`;
  }
}
