/**
 * Countries for the home-country choice, named in English like the rest of the portal. The codes
 * are the switch's (contract/countries.ts: current ISO 3166 codes with a numbering plan); the
 * browser only names them (Intl.DisplayNames), so a retired code it still knows is never listed.
 */
import { HOME_COUNTRY_CODES } from '../../contract/countries.ts';

export function countryNames(locale = 'en'): Array<{ code: string; name: string }> {
  const names = new Intl.DisplayNames([locale], { type: 'region', fallback: 'code' });
  return HOME_COUNTRY_CODES.map((code) => ({ code, name: names.of(code) ?? code })).sort((x, y) => x.name.localeCompare(y.name, locale));
}

/** The country of the browser's language setting (en-US → US), if it is one the switch offers. */
export function browserCountry(): string | undefined {
  try {
    const region = new Intl.Locale(navigator.language).maximize().region;
    return region && HOME_COUNTRY_CODES.includes(region) ? region : undefined;
  } catch {
    return undefined;
  }
}
