/**
 * Home countries: the list the portal offers is the current ISO 3166 codes the switch can read
 * numbers for, and sign-up and settings accept exactly those (no retired codes, no user-assigned
 * ones such as XK).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getCountries } from 'libphonenumber-js';
import { HOME_COUNTRY_CODES } from '../../contract/countries.ts';
import { ApiClient, signUp, STRONG_PASSWORD, uniqueEmail } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

test('every offered code has a numbering plan, once; retired and user-assigned codes are absent', () => {
  const plans = new Set<string>(getCountries());
  assert.equal(new Set(HOME_COUNTRY_CODES).size, HOME_COUNTRY_CODES.length, 'no duplicates');
  assert.equal(HOME_COUNTRY_CODES.length, 242, '249 ISO 3166-1 codes less the 7 territories without a numbering plan');
  for (const code of HOME_COUNTRY_CODES) assert.ok(plans.has(code), `${code} has a numbering plan`);
  for (const retired of ['BU', 'TP', 'YU', 'AN', 'CS', 'ZR', 'DD', 'FX', 'XK', 'AC', 'TA', 'EU', 'UN']) assert.ok(!HOME_COUNTRY_CODES.includes(retired), retired);
  // A browser names each of them once: no two codes share a name, as Myanmar and Myanmar (Burma) would.
  const names = HOME_COUNTRY_CODES.map((c) => new Intl.DisplayNames(['en'], { type: 'region' }).of(c));
  assert.equal(new Set(names).size, names.length);
});

for (const dialect of DIALECTS) {
  describe(`home country at sign-up and in settings [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    test('sign-up keeps a current code and refuses retired or unassigned ones', async () => {
      const api = new ApiClient(sw.httpUrl);
      const ok = await api.post('/auth/signup', { email: uniqueEmail(), password: STRONG_PASSWORD, country: 'pt' });
      assert.equal(ok.status, 201);
      assert.equal((await api.get('/settings')).body.country, 'PT');
      for (const country of ['BU', 'XK', 'AQ', 'ZZ']) {
        const r = await new ApiClient(sw.httpUrl).post('/auth/signup', { email: uniqueEmail(), password: STRONG_PASSWORD, country });
        assert.equal(r.status, 400, country);
        assert.equal(r.body.field, 'country');
        assert.match(r.body.error, /current ISO 3166/);
      }
    });

    test('settings refuse a retired code and keep the one set', async () => {
      const api = await signUp(sw.httpUrl);
      assert.equal((await api.patch('/settings', { country: 'MM' })).status, 200);
      const r = await api.patch('/settings', { country: 'BU' });
      assert.equal(r.status, 400);
      assert.equal((await api.get('/settings')).body.country, 'MM');
    });
  });
}
