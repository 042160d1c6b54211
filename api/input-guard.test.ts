/**
 * The input guard (api/input-guard.ts) in process: hostile text is a 422 before any route reads it, so the
 * test app's database, Redis and mailer (which fail when touched, test/unit-app.ts) are never reached.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../test/http.js';
import { clientBody } from '../test/registration.js';
import { createUnitApp, type UnitApp } from '../test/unit-app.js';

let api: UnitApp;
beforeAll(async () => (api = await createUnitApp()));
afterEach(() => expect(api.touched).toEqual([]));

describe('query strings', () => {
  it('checks the whole value after the first "=" (a value holding "=" then NUL is refused)', async () => {
    const p = await expectProblem(
      await api.call('GET', '/api/v1/orders?symbol=A=%00', { token: api.token }),
      422,
      'validation_failed',
    );
    expect(p.errors).toEqual(['query.symbol: must not contain NUL bytes or unpaired surrogates']);
  });
});

describe('JSON bodies, whatever the case of the media type', () => {
  for (const type of ['application/JSON', 'Application/Json; charset=UTF-8']) {
    it(`refuses NUL in a login email sent as ${type}`, async () => {
      const p = await expectProblem(
        await api.call('POST', '/api/v1/auth/login', {
          body: { email: 'a\u0000@example.test', password: 'x' },
          headers: { 'content-type': type },
        }),
        422,
        'validation_failed',
      );
      expect(p.errors).toEqual(['email: must not contain NUL bytes or unpaired surrogates']);
    });

    it(`refuses NUL in a registration first_name sent as ${type}`, async () => {
      const p = await expectProblem(
        await api.call('POST', '/api/v1/clients/register', {
          body: { client: clientBody('nul@example.test', { first_name: 'Ada\u0000' }) },
          headers: { 'content-type': type },
        }),
        422,
        'validation_failed',
      );
      expect(p.errors).toEqual(['client.first_name: must not contain NUL bytes or unpaired surrogates']);
    });
  }
});
