/**
 * Toll-fraud guard for provider legs: whether a number leaves the tenant's home country. A stolen
 * phone password is usually spent on calls to premium numbers abroad, so a tenant's providers
 * reach only home numbers until the tenant turns international calls on (DESIGN.md, security
 * defaults). Numbers are read as the home country dials them (libphonenumber: national forms,
 * the country's international prefix such as 00 or 011, and +E.164).
 */
import { getCountries, getCountryCallingCode, Metadata, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

const COUNTRIES = new Set<string>(getCountries());

export function isCountryCode(code: string): code is CountryCode {
  return COUNTRIES.has(code);
}

const iddPrefixes = new Map<CountryCode, RegExp>();

/** The home country's international call prefix (011 in North America, 00 in most of the world). */
function iddPrefix(home: CountryCode): RegExp {
  let re = iddPrefixes.get(home);
  if (!re) {
    const metadata = new Metadata();
    metadata.selectNumberingPlan(home);
    re = new RegExp(`^(?:${metadata.numberingPlan?.IDDPrefix() ?? '00'})`);
    iddPrefixes.set(home, re);
  }
  return re;
}

/** Visual separators people type in numbers; the guard reads the digits. */
const SEPARATORS = /[\s().\-/]/g;

/**
 * Whether `number`, dialled through a provider by a tenant at home in `home`, reaches another
 * country. Without a home country any number in international form counts (+, 00 or 011 first).
 * Something that is no number (a name the provider routes) is not international.
 */
export function isInternational(number: string, home: string | null): boolean {
  const digits = number.replace(SEPARATORS, '');
  if (!/^\+?\d+$/.test(digits)) return false;
  if (!home || !isCountryCode(home)) return /^(?:\+|00|011)/.test(digits);
  const parsed = parsePhoneNumberFromString(digits, home);
  // Not a number of any known plan: abroad if it was written as one from abroad.
  if (!parsed) return digits.startsWith('+') || iddPrefix(home).test(digits);
  // A shared calling code (+1 is the United States, Canada and much of the Caribbean) is
  // decided by the number's country; a number of the home code no plan assigns stays home.
  if (parsed.country) return parsed.country !== home;
  return parsed.countryCallingCode !== getCountryCallingCode(home);
}

/** What decides a tenant's provider legs: its home country and whether calls abroad are on. */
export interface TollPolicy {
  country: string | null;
  internationalCalls: boolean;
}

/**
 * Why the switch will not place a provider leg (`number@provider`, `target` its dial-string form),
 * in words for the tenant; undefined when it may. Real calls and test runs both ask this.
 */
export function internationalRefusal(leg: { number: string; target: string }, policy: TollPolicy | undefined): string | undefined {
  if (!policy || policy.internationalCalls || !isInternational(leg.number, policy.country)) return undefined;
  const where = policy.country ? `outside ${policy.country}` : 'abroad (no home country is set)';
  return `${leg.target}: ${leg.number} is ${where} and international calls are off; turn them on in Settings`;
}
