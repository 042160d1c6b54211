import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../../test/http.js';
import { createUnitApp, type UnitApp } from '../../test/unit-app.js';
import { ApiError } from '../problem.js';
import { idempotencyKeyOf, parseTransferAmount } from './funding.js';

const fails = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof ApiError ? `${err.status} ${err.errors?.join(',') ?? err.message}` : String(err);
  }
  return 'ok';
};

describe('transfer amounts', () => {
  it('parses exactly into cents', () => {
    expect(parseTransferAmount('100.50')).toBe(10050n);
    expect(parseTransferAmount(100.5)).toBe(10050n);
    expect(parseTransferAmount(0.01)).toBe(1n);
    expect(parseTransferAmount('1000000.00')).toBe(100_000_000n);
  });

  it('refuses zero, negatives, 3 decimals, the maximum + 1 cent and non-numbers', () => {
    expect(fails(() => parseTransferAmount(0))).toBe('422 amount: must be positive');
    expect(fails(() => parseTransferAmount('-1'))).toBe('422 amount: must be positive');
    expect(fails(() => parseTransferAmount('0.001'))).toBe('422 amount: must have at most 2 decimals');
    expect(fails(() => parseTransferAmount(0.1 + 0.2))).toBe('422 amount: must have at most 2 decimals');
    expect(fails(() => parseTransferAmount('1000000.01'))).toBe('422 amount: must be at most 1000000.00');
    expect(fails(() => parseTransferAmount('1e3'))).toBe('422 amount: must be a decimal number');
    expect(fails(() => parseTransferAmount(null))).toBe('422 amount: must be a number or a decimal string');
  });
});

describe('Idempotency-Key header', () => {
  it('is required and restricted to a safe alphabet', () => {
    expect(idempotencyKeyOf('3f2b5c9e-2d1a-4c55-9a0e-8f1b2c3d4e5f')).toBe(
      '3f2b5c9e-2d1a-4c55-9a0e-8f1b2c3d4e5f',
    );
    expect(fails(() => idempotencyKeyOf(undefined))).toMatch(/^400/);
    expect(fails(() => idempotencyKeyOf(''))).toMatch(/^400/);
    expect(fails(() => idempotencyKeyOf('a b'))).toMatch(/^400/);
    expect(fails(() => idempotencyKeyOf('k'.repeat(129)))).toMatch(/^400/);
  });
});

describe('POST /api/v1/deposits and /withdrawals: bad input is a clear 4xx before anything moves', () => {
  // The app's database and Redis fail when touched (test/unit-app.ts), beyond authenticating the caller.
  let api: UnitApp;
  beforeAll(async () => (api = await createUnitApp()));
  afterEach(() => expect(api.touched).toEqual([]));

  const post = (path: 'deposits' | 'withdrawals', body: unknown, key: string | null = randomUUID()) =>
    api.call('POST', `/api/v1/${path}`, {
      token: api.token,
      body,
      headers: key === null ? {} : { 'idempotency-key': key },
    });

  const cases: [string, unknown, number, string][] = [
    ['zero', { amount: 0, currency: 'USD' }, 422, 'validation_failed'],
    ['negative', { amount: '-5.00', currency: 'USD' }, 422, 'validation_failed'],
    ['three decimals', { amount: '1.001', currency: 'USD' }, 422, 'validation_failed'],
    ['float noise', { amount: 0.30000000000000004, currency: 'USD' }, 422, 'validation_failed'],
    ['exponent', { amount: 1e21, currency: 'USD' }, 422, 'validation_failed'],
    ['above the maximum', { amount: '1000000.01', currency: 'USD' }, 422, 'validation_failed'],
    ['not a number', { amount: 'ten', currency: 'USD' }, 422, 'validation_failed'],
    ['boolean', { amount: true, currency: 'USD' }, 422, 'validation_failed'],
    ['object', { amount: { value: 1 }, currency: 'USD' }, 422, 'validation_failed'],
    ['other currency', { amount: '5.00', currency: 'EUR' }, 422, 'validation_failed'],
    ['missing amount', { currency: 'USD' }, 422, 'validation_failed'],
    ['extra field', { amount: '5.00', currency: 'USD', account_id: randomUUID() }, 422, 'validation_failed'],
    ['not an object', [1, 2], 400, 'bad_request'],
  ];
  for (const path of ['deposits', 'withdrawals'] as const) {
    it.each(cases)(`${path}: %s`, async (_name, body, status, code) => {
      await expectProblem(await post(path, body), status, code);
    });
  }

  it('malformed JSON, huge bodies, no token, unknown routes', async () => {
    const headers = { 'content-type': 'application/json', 'idempotency-key': randomUUID() };
    await expectProblem(
      await api.call('POST', '/api/v1/deposits', { token: api.token, raw: '{"amount": 1', headers }),
      400,
      'bad_request',
    );
    await expectProblem(
      await api.call('POST', '/api/v1/deposits', {
        token: api.token,
        raw: JSON.stringify({ amount: '1.00', pad: 'x'.repeat(100_000) }),
        headers,
      }),
      413,
      'payload_too_large',
    );
    await expectProblem(
      await api.call('POST', '/api/v1/deposits', { body: { amount: '1.00' }, headers }),
      401,
      'unauthorized',
    );
    await expectProblem(await api.call('GET', '/api/v1/deposits'), 401, 'unauthorized');
    await expectProblem(await api.call('GET', '/api/v1/withdrawals', { token: 'nope' }), 401, 'unauthorized');
    await expectProblem(
      await api.call('POST', '/api/v1/deposit', { token: api.token, body: { amount: '1.00' }, headers }),
      404,
      'not_found',
    );
  });

  it('requires the header (400) and a sane key', async () => {
    await expectProblem(await post('deposits', { amount: '1.00' }, null), 400, 'bad_request');
    await expectProblem(await post('deposits', { amount: '1.00' }, 'x'.repeat(129)), 400, 'bad_request');
    await expectProblem(await post('deposits', { amount: '1.00' }, 'has space'), 400, 'bad_request');
    await expectProblem(await post('withdrawals', { amount: '1.00' }, null), 400, 'bad_request');
  });

  it('a valid deposit gets past validation: the next thing it does is claim the idempotency key (the fake database refuses)', async () => {
    expect((await post('deposits', { amount: '1.00', currency: 'USD' })).status).toBe(500);
    expect(api.touched[0]).toMatch(/^database\.db\./);
    api.touched.length = 0;
  });
});
