import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCountryCode, isInternational } from '../../server/providers/internationalCalls.ts';

test('numbers are read as the home country dials them', () => {
  const cases: Array<[string, string | null, boolean, string]> = [
    ['0301234567', 'DE', false, 'national form'],
    ['+49 30 1234567', 'DE', false, 'E.164 of the home country, with spaces'],
    ['004930123456', 'DE', false, 'home country through the international prefix'],
    ['112', 'DE', false, 'emergency short number'],
    ['00442071234567', 'DE', true, "Germany's international prefix"],
    ['+442071234567', 'DE', true, 'E.164 abroad'],
    ['011442071234567', 'US', true, "North America's international prefix"],
    ['+1 (212) 555-1234', 'US', false, 'home, punctuated'],
    ['911', 'US', false, 'emergency short number'],
    ['+14165551234', 'US', true, 'Canada shares +1 but is another country'],
    ['18765551234', 'US', true, 'Jamaica dialled like a domestic long-distance number (a classic fraud route)'],
    ['+999123', 'US', true, 'a calling code no plan assigns, written from abroad'],
    ['01144123456', 'US', true, 'not a valid number, but written with the international prefix'],
    ['01142123456', 'GB', false, 'Sheffield: 011 is an area code in Britain'],
    ['+80012345678', 'GB', true, 'international freephone belongs to no country'],
    ['support', 'DE', false, 'a name the provider routes is no number'],
    ['+442071234567', null, true, 'no home country: international form counts'],
    ['00442071234567', null, true, 'no home country: 00 counts'],
    ['0301234567', null, false, 'no home country: national forms pass'],
  ];
  for (const [number, home, expected, why] of cases) assert.equal(isInternational(number, home), expected, `${number} from ${home}: ${why}`);
});

test('country codes are ISO 3166 alpha-2 codes the number plans know', () => {
  assert.ok(isCountryCode('DE'));
  assert.ok(isCountryCode('JM'));
  assert.equal(isCountryCode('de'), false, 'upper case only (the API upper-cases first)');
  assert.equal(isCountryCode('XX'), false);
  assert.equal(isCountryCode('EU'), false);
});
