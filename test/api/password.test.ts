/** POST /me/password: the current password is asked again, the new one checked, other sessions end. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiClient, STRONG_PASSWORD, uniqueEmail } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const NEW_PASSWORD = 'Quartz-Lantern-Meadow-47';

for (const dialect of DIALECTS) {
  describe(`password change [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    async function twoSessions() {
      const email = uniqueEmail();
      const here = new ApiClient(sw.httpUrl);
      assert.equal((await here.post('/auth/signup', { email, password: STRONG_PASSWORD })).status, 201);
      const elsewhere = new ApiClient(sw.httpUrl);
      assert.equal((await elsewhere.post('/auth/login', { email, password: STRONG_PASSWORD })).status, 200);
      return { email, here, elsewhere };
    }

    test('changes the password, keeps this session and ends the others', async () => {
      const { email, here, elsewhere } = await twoSessions();
      const r = await here.post('/me/password', { currentPassword: STRONG_PASSWORD, newPassword: NEW_PASSWORD });
      assert.equal(r.status, 204);
      assert.equal((await here.get('/me')).status, 200);
      assert.equal((await elsewhere.get('/me')).status, 401);
      assert.equal((await new ApiClient(sw.httpUrl).post('/auth/login', { email, password: STRONG_PASSWORD })).status, 401);
      assert.equal((await new ApiClient(sw.httpUrl).post('/auth/login', { email, password: NEW_PASSWORD })).status, 200);
    });

    test('a wrong current password or a weak new one is a 400 naming the field, and changes nothing', async () => {
      const { email, here, elsewhere } = await twoSessions();
      const wrong = await here.post('/me/password', { currentPassword: 'Not-My-Password-99', newPassword: NEW_PASSWORD });
      assert.equal(wrong.status, 400);
      assert.equal(wrong.body.field, 'currentPassword');
      const weak = await here.post('/me/password', { currentPassword: STRONG_PASSWORD, newPassword: 'password1234' });
      assert.equal(weak.status, 400);
      assert.equal(weak.body.field, 'newPassword');
      const same = await here.post('/me/password', { currentPassword: STRONG_PASSWORD, newPassword: STRONG_PASSWORD });
      assert.equal(same.status, 400);
      assert.equal(same.body.field, 'newPassword');
      assert.equal((await elsewhere.get('/me')).status, 200);
      assert.equal((await new ApiClient(sw.httpUrl).post('/auth/login', { email, password: STRONG_PASSWORD })).status, 200);
    });

    test('an API key cannot change the password; a logged-out caller gets 401', async () => {
      const { here } = await twoSessions();
      const key = await here.post('/api-keys', { name: 'script' });
      const tool = new ApiClient(sw.httpUrl);
      tool.bearer = key.body.key;
      const r = await tool.post('/me/password', { currentPassword: STRONG_PASSWORD, newPassword: NEW_PASSWORD });
      assert.equal(r.status, 403);
      assert.equal((await new ApiClient(sw.httpUrl).post('/me/password', { currentPassword: 'x', newPassword: NEW_PASSWORD })).status, 401);
    });

    test('a cross-origin request is refused (CSRF)', async () => {
      const { here } = await twoSessions();
      const r = await here.request('POST', '/me/password', { currentPassword: STRONG_PASSWORD, newPassword: NEW_PASSWORD }, { origin: 'https://evil.example' });
      assert.equal(r.status, 403);
    });
  });
}
