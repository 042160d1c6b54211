import { afterEach, describe, expect, it, vi } from 'vitest';
import { Api, ApiProblem, RetryKey } from './api.js';

const refusal = (message: string, errors: string[]) =>
  new ApiProblem({ status: 422, code: 'validation_failed', message, errors });

describe('ApiProblem: the api refusal sorted by the input it names', () => {
  it("puts the schema's messages under their field, without the field's name", () => {
    const p = refusal('Validation failed', [
      'order.stop_price: is required for stop orders',
      'order.quantity: must have at most 0 decimals (whole shares)',
    ]);
    expect(p.fields).toEqual({
      stop_price: ['is required for stop orders'],
      quantity: ['must have at most 0 decimals (whole shares)'],
    });
    expect(p.formMessage()).toBeUndefined();
  });

  it("puts the order checks' reason under the input it names in words; the headline says nothing more", () => {
    const stop = refusal('Price is outside the allowed band', [
      'Price is outside the allowed band',
      'Stop price must be between 336.00 and 504.00 (USD)',
    ]);
    expect(stop.fields).toEqual({ stop_price: ['Stop price must be between 336.00 and 504.00 (USD)'] });
    expect(stop.formMessage()).toBeUndefined();

    const lot = refusal('Quantity is not a multiple of the lot size', [
      'Quantity is not a multiple of the lot size',
      'Quantity must be a multiple of the lot size 10',
    ]);
    expect(lot.fields).toEqual({ quantity: ['Quantity must be a multiple of the lot size 10'] });
  });

  it('a headline alone names its input', () => {
    const tick = refusal('Price is not a multiple of the tick size', [
      'Price is not a multiple of the tick size',
    ]);
    expect(tick.fields).toEqual({ price: ['Price is not a multiple of the tick size'] });
  });

  it('a refusal that names no input is the form message, its headline said once', () => {
    const funds = refusal('Insufficient funds', ['Insufficient funds']);
    expect(funds.fields).toEqual({});
    expect(funds.formMessage()).toBe('Insufficient funds');

    const tif = refusal('Time in force not allowed for this order type', [
      'Time in force not allowed for this order type',
      'Market orders cannot be GTC',
    ]);
    expect(tif.fields).toEqual({});
    expect(tif.formMessage()).toBe(
      'Time in force not allowed for this order type: Market orders cannot be GTC',
    );

    const closed = new ApiProblem({
      status: 409,
      code: 'order_closed',
      message: 'Order is already closed',
      errors: [],
    });
    expect(closed.formMessage()).toBe('Order is already closed');
  });
});

describe('Api: a 401 ends the session, unless it answers a password the user typed', () => {
  afterEach(() => vi.unstubAllGlobals());

  const wrongPassword = () =>
    new Response(JSON.stringify({ code: 'unauthorized', detail: 'The current password is not correct' }), {
      status: 401,
      headers: { 'content-type': 'application/problem+json' },
    });

  it.each([
    ['a request of the session', {}, 1],
    ['a password check', { checksPassword: true }, 0],
  ])('%s', async (_, opts, ended) => {
    vi.stubGlobal(
      'fetch',
      vi.fn(() => Promise.resolve(wrongPassword())),
    );
    const onUnauthorized = vi.fn();
    const api = new Api(() => 'access-token', onUnauthorized);
    const refusal = await api.post('/api/v1/auth/password/change', {}, opts).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(ApiProblem);
    expect((refusal as ApiProblem).formMessage()).toBe('The current password is not correct');
    expect(onUnauthorized).toHaveBeenCalledTimes(ended);
  });
});

describe('RetryKey: the same key until the api has answered', () => {
  const failing =
    (status: number, code = String(status)) =>
    () =>
      Promise.reject(new ApiProblem({ status, code, message: code, errors: [] }));

  it('keeps the key after no answer, a 5xx or a 409 idempotency_in_progress; renews it after an answer', async () => {
    const key = new RetryKey();
    const first = key.value;
    for (const [status, code] of [[0], [503], [409, 'idempotency_in_progress']] as const) {
      await expect(key.send(failing(status, code))).rejects.toBeInstanceOf(ApiProblem);
      expect(key.value).toBe(first);
    }
    const sent: string[] = [];
    await key.send(async (k) => sent.push(k));
    expect(sent).toEqual([first]);
    expect(key.value).not.toBe(first);

    for (const [status, code] of [[422], [409, 'version_conflict']] as const) {
      const before = key.value;
      await expect(key.send(failing(status, code))).rejects.toBeInstanceOf(ApiProblem);
      expect(key.value).not.toBe(before);
    }
  });

  it('keeps the body of its first send for the retries, read again under a new key', async () => {
    const key = new RetryKey();
    let version = 0;
    const body = () => key.keep(() => ({ client_version: version }));
    expect(body()).toEqual({ client_version: 0 });
    await expect(key.send(failing(0))).rejects.toBeInstanceOf(ApiProblem);
    version = 1; // the lost request moved the order's version, and the page has read it
    expect(body()).toEqual({ client_version: 0 });
    await key.send(async () => 'answered');
    expect(body()).toEqual({ client_version: 1 });
    version = 2;
    key.renew(); // an input changed
    expect(body()).toEqual({ client_version: 2 });
  });
});
