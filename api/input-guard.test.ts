/**
 * The input guard (api/input-guard.ts) in process: hostile text, and a JSON number JSON.parse would round,
 * is a 422 before any route reads it, so the
 * test app's database, Redis and mailer (which fail when touched, test/unit-app.ts) are never reached.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../test/http.js';
import { clientBody } from '../test/registration.js';
import { createUnitApp, type UnitApp } from '../test/unit-app.js';
import { longNumberPath } from './input-guard.js';

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

describe('JSON numbers with more than 15 significant digits, which JSON.parse rounds', () => {
  const LONG =
    'has more than 15 significant digits, which a JSON number cannot carry exactly (send a decimal string)';

  it('refuses a deposit of 0.0099999999999999999 (it would read as 0.01) and touches nothing', async () => {
    const p = await expectProblem(
      await api.call('POST', '/api/v1/deposits', {
        token: api.token,
        raw: '{"amount":0.0099999999999999999,"currency":"USD"}',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'deposit-1' },
      }),
      422,
      'validation_failed',
    );
    expect(p.errors).toEqual([`amount: ${LONG}`]);
  });

  it('refuses an order for 1.9999999999999999 shares (it would read as 2) and touches nothing', async () => {
    const raw =
      '{"order":{"symbol":"AAPL","order_type":"limit","direction":"buy","quantity":1.9999999999999999,"price":150.25}}';
    const p = await expectProblem(
      await api.call('POST', '/api/v1/orders', {
        token: api.token,
        raw,
        headers: { 'content-type': 'application/json' },
      }),
      422,
      'validation_failed',
    );
    expect(p.errors).toEqual([`order.quantity: ${LONG}`]);
  });

  it('counts the digits of numbers only, from the first non-zero digit to the last, before the exponent', () => {
    const cases: [string, string | undefined][] = [
      ['{"a":123456789012345,"b":0.000123456789012345,"c":1.5e300}', undefined],
      ['{"a":0.1234567890123456}', 'a'],
      ['{"a":1.10000000000000000000,"b":-100000000000000000000}', undefined],
      ['{"a":"1.23456789012345678","b":"x\\"1.23456789012345678"}', undefined],
      ['{"a":[1,{"b":2},-1.00000000000000001]}', 'a.2'],
      ['{"a":{"b":[1.5]},"c":{"d":12345678901234567890}}', 'c.d'],
      ['{"a b":1.2345678901234567e-5}', 'a b'],
      ['1234567890123456789', '(body)'],
    ];
    for (const [json, path] of cases) expect([json, longNumberPath(json)]).toEqual([json, path]);
  });
});
