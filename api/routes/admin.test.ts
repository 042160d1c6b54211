/**
 * The operator routes, the cancel-all and the timeline before any I/O (test/unit-app.ts: the database,
 * Redis and Temporal fail when touched): a client is refused by the role check, bad input by the schemas,
 * and the OpenAPI document lists each route with its errors. Their effects: admin.int.test.ts and
 * order-lifecycle.int.test.ts.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../../test/http.js';
import { createUnitApp, type UnitApp } from '../../test/unit-app.js';
import { cancelScopeOf, controlRequestError, type ControlAction } from '../../temporal/controls.js';

let api: UnitApp;
beforeAll(async () => (api = await createUnitApp()));
afterEach(() => expect(api.touched).toEqual([]));

const ACCOUNT = '00000000-0000-4000-8000-0000000000aa';
type Op = { responses: Record<string, unknown> };
const openapi = async () =>
  (await (await api.call('GET', '/openapi.json')).json()) as { paths: Record<string, Record<string, Op>> };

describe('/api/v1/admin', () => {
  it('refuses a client token on every admin route with 403 before anything else', async () => {
    const doc = await openapi();
    const routes = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/api/v1/admin/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => [m.toUpperCase(), path] as const));
    expect(routes.length).toBe(11);
    for (const [method, path] of routes) {
      const url = path
        .replace('{symbol}', 'AAPL')
        .replace('{account_id}', ACCOUNT)
        .replace('{user_id}', ACCOUNT);
      const body = method === 'GET' ? undefined : { reason: 'x' };
      await expectProblem(await api.call(method, url, { token: api.token, body }), 403, 'forbidden');
    }
  });

  const bad: [string, string, string, unknown][] = [
    ['no reason', 'POST', '/symbols/AAPL/halt', {}],
    ['a blank reason', 'POST', '/symbols/AAPL/resume', { reason: '   ' }],
    ['a reason too long', 'POST', '/symbols/AAPL/halt', { reason: 'x'.repeat(501) }],
    ['not a symbol', 'POST', '/symbols/A%20B/halt', { reason: 'x' }],
    ['cancel_resting not a boolean', 'POST', '/symbols/AAPL/halt', { reason: 'x', cancel_resting: 'yes' }],
    ['not an account id', 'POST', '/accounts/42/freeze', { reason: 'x' }],
    ['an unknown field', 'POST', `/accounts/${ACCOUNT}/unfreeze`, { reason: 'x', force: true }],
    ['not a user id', 'POST', '/users/42/suspend', { reason: 'x' }],
    ['a reinstatement without a reason', 'POST', `/users/${ACCOUNT}/reinstate`, {}],
    ['a kill switch scope that is no symbol', 'POST', '/kill-switch', { reason: 'x', symbol: '*' }],
    [
      'three decimals in a notional',
      'PUT',
      `/accounts/${ACCOUNT}/limits`,
      { reason: 'x', max_order_notional: '1.001' },
    ],
    ['a negative notional', 'PUT', `/accounts/${ACCOUNT}/limits`, { reason: 'x', max_daily_notional: '-5' }],
    [
      'a fractional open-order count',
      'PUT',
      `/accounts/${ACCOUNT}/limits`,
      { reason: 'x', max_open_orders: 1.5 },
    ],
    ['a negative position', 'PUT', `/accounts/${ACCOUNT}/limits`, { reason: 'x', max_position: -1 }],
    ['a cursor that is not one', 'GET', '/audit?cursor=abc', undefined],
    ['a cursor past the largest bigint', 'GET', '/audit?cursor=9223372036854775808', undefined],
    ['a 19-digit cursor past the largest bigint', 'GET', '/audit?cursor=9999999999999999999', undefined],
  ];
  it.each(bad)('refuses %s with 422 before the control workflow is asked', async (_, method, path, body) => {
    await expectProblem(
      await api.call(method, `/api/v1/admin${path}`, { token: api.operatorToken, body }),
      422,
    );
  });

  it('documents every route with its errors', async () => {
    const doc = await openapi();
    const statuses = (path: string, method: string) =>
      Object.keys(doc.paths[path]?.[method]?.responses ?? {}).sort();
    for (const [path, method] of [
      ['/api/v1/admin/symbols/{symbol}/halt', 'post'],
      ['/api/v1/admin/symbols/{symbol}/resume', 'post'],
      ['/api/v1/admin/accounts/{account_id}/freeze', 'post'],
      ['/api/v1/admin/accounts/{account_id}/unfreeze', 'post'],
      ['/api/v1/admin/accounts/{account_id}/limits', 'put'],
      ['/api/v1/admin/kill-switch', 'post'],
      ['/api/v1/admin/kill-switch/release', 'post'],
    ] as const)
      expect([path, statuses(path, method)]).toEqual([
        path,
        ['200', '400', '401', '403', '404', '413', '415', '422', '500', '503'],
      ]);
    expect(statuses('/api/v1/admin/controls', 'get')).toEqual([
      '200',
      '400',
      '401',
      '403',
      '422',
      '500',
      '503',
    ]);
    expect(statuses('/api/v1/admin/audit', 'get')).toEqual(['200', '400', '401', '403', '422', '500', '503']);
    expect(statuses('/api/v1/orders', 'delete')).toEqual([
      '200',
      '400',
      '401',
      '413',
      '422',
      '429',
      '500',
      '503',
      '504',
    ]);
    expect(statuses('/api/v1/orders/{id}/timeline', 'get')).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '422',
      '500',
      '503',
    ]);
  });
});

describe('the audit trail', () => {
  it('documents an entry as the control workflow records it: params the action, outcome its counts', async () => {
    type Entry = { action: string; params: ControlAction; reason: string; outcome: unknown };
    const audit = (await openapi()).paths['/api/v1/admin/audit']?.get?.responses['200'] as {
      content: Record<string, { example: { entries: Entry[] } }>;
    };
    const [entry] = audit.content['application/json']!.example.entries;
    // params: the action itself (activities/controls.ts), kind and all, as the workflow validates it.
    expect(entry!.params.kind).toBe(entry!.action);
    const operator = { userId: '9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', email: 'ops@example.com' };
    expect(controlRequestError({ action: entry!.params, operator, reason: entry!.reason })).toBeUndefined();
    // outcome: the counts of orders cancelled and not (activities/controls.ts), for an action that cancels.
    expect(cancelScopeOf(entry!.params)).toBeDefined();
    const outcome = Object.entries(entry!.outcome as Record<string, unknown>);
    expect(outcome.map(([k, v]) => `${k}: ${typeof v}`).sort()).toEqual([
      'cancelled: number',
      'failed: number',
    ]);
  });
});

describe('cancel-all and the timeline', () => {
  it('refuse a malformed symbol or order id with 422 before any I/O', async () => {
    await expectProblem(await api.call('DELETE', '/api/v1/orders?symbol=%00', { token: api.token }), 422);
    await expectProblem(await api.call('GET', '/api/v1/orders/nope/timeline', { token: api.token }), 422);
  });
});
