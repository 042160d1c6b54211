/**
 * Operators and risk controls through HTTP: operator:create, the role claim, 403 for clients on every
 * admin route, halts, freezes, kill switches (under a stream of orders), risk limits at their boundary,
 * the audit trail and the MarketControls workflow, and (last, after the recorded histories) users'
 * suspension and reinstatement, and an operator's demotion taking effect on an unexpired token (its history, continue-as-new; both runs join the
 * replay corpus, `npm run histories:record`).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listKillSwitches } from '../../db/queries/controls.js';
import { listOpenOrders } from '../../db/queries/orders.js';
import { setUserRole } from '../../db/queries/users.js';
import { keepHistory, patchesTaken } from '../../test/histories.js';
import { expectProblem } from '../../test/http.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import {
  TEST_PASSWORD,
  createFundedUser,
  loginCode,
  loginWithEmailCode,
  type FundedTestUser,
} from '../../test/users.js';
import { uniqueEmail } from '../../test/helpers.js';
import { TRADING_TASK_QUEUE, withPrefix } from '../../temporal/contracts.js';
import { MARKET_CONTROLS, controlsQuery, marketControlsWorkflowId } from '../../temporal/controls.js';
import { createOperator } from '../auth/operators.js';
import { watchKillSwitches } from '../metrics.js';
import { connectFeed, serveWithFeed, type ServedFeed } from '../ws/testing.js';

let fx: TradingFixture;
let operator: { token: string; email: string };
/** What the shard's next cancel step waits for (set by a test). */
let beforeCancel: (() => Promise<void>) | undefined;

beforeAll(async () => {
  fx = await startTradingFixture('admin', {
    wrapMatchingActivities: (steps) => ({
      ...steps,
      async cancelOrder(args) {
        const hold = beforeCancel;
        beforeCancel = undefined;
        await hold?.();
        return steps.cancelOrder(args);
      },
    }),
  });
  // The operator comes from the command itself, as an operations desk would make one.
  const email = uniqueEmail('ops');
  const { stdout } = await promisify(execFile)(
    'npx',
    ['tsx', 'scripts/operator-create.ts', '--email', email],
    {
      env: { ...process.env, ...fx.env, OPERATOR_PASSWORD: TEST_PASSWORD },
    },
  );
  expect(stdout).toContain(`operator ${email} created`);
  operator = { token: (await loginWithEmailCode(fx.api, email)).token, email };
}, 180_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

type Json = Record<string, unknown>;
const admin = (method: string, path: string, body?: unknown, token = operator.token) =>
  fx.api.call(method, `/api/v1/admin${path}`, { token, body });
async function ok(res: Response): Promise<Json> {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as Json;
}
const place = (u: FundedTestUser, order: Json) =>
  fx.api.call('POST', '/api/v1/orders', {
    token: u.token,
    body: { order: { order_type: 'limit', time_in_force: 'GTC', ...order } },
  });
async function placed(u: FundedTestUser, order: Json): Promise<{ order_id: string; status: string }> {
  const res = await place(u, order);
  const text = await res.text();
  expect(res.status, text).toBe(201);
  return JSON.parse(text) as { order_id: string; status: string };
}
const orderOf = async (u: FundedTestUser, id: string) =>
  (await (await fx.api.call('GET', `/api/v1/orders/${id}`, { token: u.token })).json()) as Json;

describe('operators', () => {
  it('operator:create makes an operator: the same login and code, a role claim in the token; an email taken is refused', async () => {
    expect(decodeJwt(operator.token).role).toBe('operator');
    const client = await createFundedUser(fx.api, '0.00');
    expect(decodeJwt(client.token).role).toBe('client');
    const again = promisify(execFile)(
      'npx',
      ['tsx', 'scripts/operator-create.ts', '--email', operator.email],
      {
        env: { ...process.env, ...fx.env, OPERATOR_PASSWORD: TEST_PASSWORD },
      },
    );
    const refused = (await again.then(
      () => undefined,
      (err: unknown) => err,
    )) as { code?: number; stderr?: string } | undefined;
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toContain('already has a user');
  }, 60_000);

  it('every admin route answers 403 problem+json to a client and 401 without a token', async () => {
    const client = await createFundedUser(fx.api, '0.00');
    const doc = (await (await fx.api.call('GET', '/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/api/v1/admin/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })));
    expect(routes.length).toBeGreaterThanOrEqual(9);
    for (const { method, path } of routes) {
      const url = path
        .replace('{symbol}', 'AAPL')
        .replace('{account_id}', client.accountId)
        .replace('{user_id}', client.userId);
      const body = method === 'GET' ? undefined : { reason: 'not an operator' };
      await expectProblem(await fx.api.call(method, url, { token: client.token, body }), 403, 'forbidden');
      await expectProblem(await fx.api.call(method, url, { body }), 401);
    }
    // Nothing was applied: no action in the audit trail names the client's account or user.
    const audit = await ok(await admin('GET', '/audit?limit=200'));
    expect(JSON.stringify(audit)).not.toContain(client.accountId);
    expect(JSON.stringify(audit)).not.toContain(client.userId);
  });

  it('refuses bad input with 422 and an unknown symbol or account, writing nothing', async () => {
    const newestAudit = async () => (await ok(await admin('GET', '/audit?limit=1'))).entries;
    const auditBefore = await newestAudit();
    const controlsBefore = await ok(await admin('GET', '/controls'));
    await expectProblem(
      await admin('POST', '/symbols/TSLA/halt', { reason: '  ' }),
      422,
      'validation_failed',
    );
    await expectProblem(await admin('POST', '/symbols/NOPE/halt', { reason: 'x' }), 422, 'validation_failed');
    await expectProblem(
      await admin('POST', `/accounts/${randomUUID()}/freeze`, { reason: 'x' }),
      404,
      'not_found',
    );
    await expectProblem(
      await admin('PUT', `/accounts/${randomUUID()}/limits`, { reason: 'x', max_order_notional: '1.001' }),
      422,
      'validation_failed',
    );
    // No action recorded, no control put in force: TSLA trades, no account frozen or limited.
    expect(await newestAudit()).toEqual(auditBefore);
    const controls = await ok(await admin('GET', '/controls'));
    expect(controls).toEqual(controlsBefore);
    expect(controls.halted).not.toContain('TSLA');
  });
});

describe('halts', () => {
  it('halt: new orders 422 symbol_halted, resting orders stay and cannot trade; resume trades again', async () => {
    const buyer = await createFundedUser(fx.api, '10000.00');
    const seller = await createFundedUser(fx.api, '0.00', { TSLA: 10n });
    const resting = await placed(buyer, { symbol: 'TSLA', direction: 'buy', quantity: 2, price: '250.00' });

    const halt = await ok(await admin('POST', '/symbols/tsla/halt', { reason: 'news pending' }));
    expect(halt).toMatchObject({ action: 'halt', target: 'TSLA', cancelled: [], failed: [] });
    await expectProblem(
      await place(seller, { symbol: 'TSLA', direction: 'sell', quantity: 2, price: '250.00' }),
      422,
      'symbol_halted',
    );
    // The resting order stays, and a replace that would cross cannot trade either.
    expect(await orderOf(buyer, resting.order_id)).toMatchObject({ status: 'working', filled_quantity: 0 });
    const replace = await fx.api.call('POST', `/api/v1/orders/${resting.order_id}/replace`, {
      token: buyer.token,
      body: { order: { client_version: 0, price: '251.00' } },
    });
    await expectProblem(replace, 422, 'symbol_halted');
    expect((await ok(await admin('GET', '/controls'))).halted).toContain('TSLA');

    await ok(await admin('POST', '/symbols/TSLA/resume', { reason: 'news out' }));
    await placed(seller, { symbol: 'TSLA', direction: 'sell', quantity: 2, price: '250.00' });
    expect(await orderOf(buyer, resting.order_id)).toMatchObject({ status: 'filled', filled_quantity: 2 });
  });

  it('halt with cancel_resting cancels every resting order of the symbol through its saga', async () => {
    const a = await createFundedUser(fx.api, '10000.00');
    const b = await createFundedUser(fx.api, '0.00', { AMZN: 5n });
    const buy = await placed(a, { symbol: 'AMZN', direction: 'buy', quantity: 3, price: '180.00' });
    const sell = await placed(b, { symbol: 'AMZN', direction: 'sell', quantity: 5, price: '190.00' });
    const other = await placed(a, { symbol: 'AAPL', direction: 'buy', quantity: 1, price: '180.00' });
    const halt = await ok(
      await admin('POST', '/symbols/AMZN/halt', { reason: 'erroneous prints', cancel_resting: true }),
    );
    expect((halt.cancelled as string[]).sort()).toEqual([buy.order_id, sell.order_id].sort());
    expect(await orderOf(a, buy.order_id)).toMatchObject({ status: 'cancelled' });
    expect(await orderOf(b, sell.order_id)).toMatchObject({ status: 'cancelled' });
    expect(await orderOf(a, other.order_id)).toMatchObject({ status: 'working' });
    expect(await fx.balance(b.accountId, 'AMZN')).toEqual({ available: 5n, reserved: 0n });
    await ok(await admin('POST', '/symbols/AMZN/resume', { reason: 'clean' }));
    await ok(await fx.api.call('DELETE', '/api/v1/orders', { token: a.token }));
  });
});

describe('freezes', () => {
  it('freeze: new orders 422 account_frozen, resting ones cancelled; unfreeze trades again', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    const bystander = await createFundedUser(fx.api, '10000.00');
    const resting = await placed(u, { symbol: 'AAPL', direction: 'buy', quantity: 5, price: '170.00' });
    const theirs = await placed(bystander, {
      symbol: 'AAPL',
      direction: 'buy',
      quantity: 5,
      price: '170.00',
    });
    const freeze = await ok(
      await admin('POST', `/accounts/${u.accountId}/freeze`, { reason: 'suspected fraud' }),
    );
    expect(freeze.cancelled).toEqual([resting.order_id]);
    expect(await orderOf(u, resting.order_id)).toMatchObject({ status: 'cancelled' });
    expect((await fx.balance(u.accountId)).reserved).toBe(0n);
    expect(await orderOf(bystander, theirs.order_id)).toMatchObject({ status: 'working' });
    await expectProblem(
      await place(u, { symbol: 'AAPL', direction: 'buy', quantity: 1, price: '170.00' }),
      422,
      'account_frozen',
    );
    await ok(await admin('POST', `/accounts/${u.accountId}/unfreeze`, { reason: 'cleared' }));
    await placed(u, { symbol: 'AAPL', direction: 'buy', quantity: 1, price: '170.00' });
    await ok(await fx.api.call('DELETE', '/api/v1/orders', { token: u.token }));
    await ok(await fx.api.call('DELETE', '/api/v1/orders', { token: bystander.token }));
  });
});

describe('kill switch', () => {
  it('under a stream of orders: once it answers nothing is open and every later order is refused', async () => {
    const traders = await Promise.all([0, 1, 2, 3].map(() => createFundedUser(fx.api, '100000.00')));
    let stop = false;
    let answeredAt = Infinity;
    const afterAnswer: number[] = [];
    const accepted: string[] = [];
    const stream = async (u: FundedTestUser, i: number) => {
      for (let n = 0; !stop; n++) {
        const started = performance.now();
        const res = await place(u, {
          symbol: 'GOOG',
          direction: 'buy',
          quantity: 1,
          price: (160 + ((i + n) % 5)).toFixed(2),
        });
        const body = (await res.json()) as { code?: string; order_id?: string };
        if (res.status === 201) accepted.push(body.order_id!);
        if (started > answeredAt) afterAnswer.push(res.status);
        if (res.status !== 201) expect(body.code).toBe('kill_switch_engaged');
      }
    };
    const streams = traders.map(stream);
    // Orders flowing: some accepted (working, or filled against each other) before the switch.
    await eventually(async () => expect(accepted.length).toBeGreaterThanOrEqual(traders.length), 30_000);
    const res = await admin('POST', '/kill-switch', { symbol: 'GOOG', reason: 'runaway algo' });
    answeredAt = performance.now();
    const engaged = await ok(res);
    // In force everywhere: at its answer no order of the symbol is open...
    expect(await listOpenOrders(fx.database.db, { symbol: 'GOOG' })).toEqual([]);
    // The streams go on past the answer: a few placements each, started after it.
    await eventually(
      async () => expect(afterAnswer.length).toBeGreaterThanOrEqual(2 * traders.length),
      30_000,
    );
    stop = true;
    await Promise.all(streams);
    // ...and none became open later: every placement after the answer was refused.
    expect(await listOpenOrders(fx.database.db, { symbol: 'GOOG' })).toEqual([]);
    expect(afterAnswer.length).toBeGreaterThan(0);
    expect(afterAnswer.every((s) => s === 422)).toBe(true);
    expect(accepted.length).toBeGreaterThan(0);
    expect((engaged.cancelled as string[]).length + (engaged.failed as unknown[]).length).toBeGreaterThan(0);
    // The metric says so while it is engaged (the KillSwitchEngaged alert's input).
    watchKillSwitches(fx.api.deps.metrics, () => listKillSwitches(fx.database.db), fx.api.deps.logger);
    expect(await fx.api.deps.metrics.registry.getSingleMetricAsString('kill_switch_engaged')).toContain(
      'kill_switch_engaged{scope="GOOG"',
    );
    await ok(await admin('POST', '/kill-switch/release', { symbol: 'GOOG', reason: 'algo fixed' }));
    expect(await fx.api.deps.metrics.registry.getSingleMetricAsString('kill_switch_engaged')).not.toContain(
      'GOOG',
    );
    await placed(traders[0]!, { symbol: 'GOOG', direction: 'buy', quantity: 1, price: '160.00' });
    await ok(await fx.api.call('DELETE', '/api/v1/orders', { token: traders[0]!.token }));
  }, 60_000);

  it('for the whole market refuses every symbol until released', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    await ok(await admin('POST', '/kill-switch', { reason: 'market-wide incident' }));
    for (const symbol of ['AAPL', 'MSFT'])
      await expectProblem(
        await place(u, {
          symbol,
          direction: 'buy',
          quantity: 1,
          price: symbol === 'AAPL' ? '170.00' : '400.00',
        }),
        422,
        'kill_switch_engaged',
      );
    expect((await ok(await admin('GET', '/controls'))).kill_switches).toMatchObject([
      { scope: '*', engaged_by: operator.email, reason: 'market-wide incident' },
    ]);
    await ok(await admin('POST', '/kill-switch/release', { reason: 'resolved' }));
    const o = await placed(u, { symbol: 'AAPL', direction: 'buy', quantity: 1, price: '170.00' });
    await ok(await fx.api.call('DELETE', `/api/v1/orders/${o.order_id}`, { token: u.token }));
  });
});

describe('risk limits', () => {
  const limits = (u: FundedTestUser, body: Json) =>
    admin('PUT', `/accounts/${u.accountId}/limits`, { reason: 'desk limits', ...body });
  const buy = (u: FundedTestUser, quantity: number, price: string, symbol = 'MSFT') =>
    place(u, { symbol, direction: 'buy', quantity, price });
  const refusedFor = async (res: Response, limit: string) => {
    const p = await expectProblem(res, 422, 'risk_limit');
    expect(String(p.detail)).toContain(limit);
  };
  const cancelAll = async (...users: FundedTestUser[]) => {
    for (const u of users) await ok(await fx.api.call('DELETE', '/api/v1/orders', { token: u.token }));
  };

  it('max_order_notional: at the limit accepted, a cent over refused', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    await ok(await limits(u, { max_order_notional: '1000.00' }));
    expect((await buy(u, 2, '500.00')).status).toBe(201);
    await refusedFor(await buy(u, 2, '500.01'), 'max_order_notional');
    await cancelAll(u);
  });

  it('max_open_orders: the limit-th order accepted, the next refused until one closes', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    await ok(await limits(u, { max_open_orders: 2 }));
    const first = await placed(u, { symbol: 'MSFT', direction: 'buy', quantity: 1, price: '340.00' });
    await placed(u, { symbol: 'MSFT', direction: 'buy', quantity: 1, price: '341.00' });
    await refusedFor(await buy(u, 1, '342.00'), 'max_open_orders');
    await ok(await fx.api.call('DELETE', `/api/v1/orders/${first.order_id}`, { token: u.token }));
    expect((await buy(u, 1, '342.00')).status).toBe(201);
    await cancelAll(u);
  });

  it('max_position: held plus open buys up to the limit accepted, one share more refused; sells are free', async () => {
    const u = await createFundedUser(fx.api, '10000.00', { MSFT: 4n });
    await ok(await limits(u, { max_position: 10 }));
    expect((await buy(u, 6, '340.00')).status).toBe(201);
    await refusedFor(await buy(u, 1, '340.00'), 'max_position');
    await placed(u, { symbol: 'MSFT', direction: 'sell', quantity: 1, price: '500.00' });
    await cancelAll(u);
  });

  it('a replace of a partly filled buy weighs what is left to fill, not what filled again', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    const seller = await createFundedUser(fx.api, '0.00', { MSFT: 6n });
    await ok(await limits(u, { max_position: 10, max_daily_notional: '4000.00' }));
    await placed(seller, { symbol: 'MSFT', direction: 'sell', quantity: 6, price: '400.00' });
    const o = await placed(u, { symbol: 'MSFT', direction: 'buy', quantity: 10, price: '400.00' });
    expect(o).toMatchObject({ status: 'partially_filled' });
    // 6 held and 4 left at 400.00: 10 shares and 4 000.00 of the day, each at its limit.
    const replace = async (price: string) =>
      fx.api.call('POST', `/api/v1/orders/${o.order_id}/replace`, {
        token: u.token,
        body: { order: { client_version: (await orderOf(u, o.order_id)).lock_version, price } },
      });
    expect((await replace('400.00')).status).toBe(200);
    await refusedFor(await replace('400.01'), 'max_daily_notional');
    await ok(await limits(u, { max_position: 9, max_daily_notional: null }));
    await refusedFor(await replace('400.00'), 'max_position');
    await cancelAll(u);
  });

  it('max_daily_notional: traded today plus the order up to the limit accepted, a cent over refused', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    const seller = await createFundedUser(fx.api, '0.00', { MSFT: 2n });
    await ok(await limits(u, { max_daily_notional: '1000.00' }));
    await placed(seller, { symbol: 'MSFT', direction: 'sell', quantity: 2, price: '400.00' });
    expect(await placed(u, { symbol: 'MSFT', direction: 'buy', quantity: 2, price: '400.00' })).toMatchObject(
      {
        status: 'filled',
      },
    );
    expect((await buy(u, 1, '200.00', 'AAPL')).status).toBe(201); // 800 + 200 = 1000.00
    await refusedFor(await buy(u, 1, '200.01', 'AAPL'), 'max_daily_notional');
    // Removing the limits (all null) lifts them.
    await ok(await limits(u, { max_daily_notional: null }));
    expect((await buy(u, 1, '200.01', 'AAPL')).status).toBe(201);
    await cancelAll(u);
  });
});

describe('audit and the control workflow', () => {
  it('every action is in GET /admin/audit (who, when, what, why, outcome) and in the workflow history', async () => {
    const page = await ok(await admin('GET', '/audit?limit=2'));
    const entries = page.entries as Json[];
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({
      operator: { email: operator.email },
      action: 'set_limits',
      reason: 'desk limits',
      workflow_id: marketControlsWorkflowId(fx.config.TASK_QUEUE_PREFIX),
    });
    const next = await ok(await admin('GET', `/audit?limit=200&cursor=${String(page.next_cursor)}`));
    const all = [...entries, ...(next.entries as Json[])];
    const freeze = all.find((e) => e.action === 'freeze')!;
    expect(freeze).toMatchObject({ reason: 'suspected fraud', outcome: { cancelled: 1, failed: 0 } });
    expect(Date.parse(String(freeze.at))).not.toBeNaN();
    // The same actions are updates in the control workflow's history.
    const handle = fx.temporal.workflow.getHandle(marketControlsWorkflowId(fx.config.TASK_QUEUE_PREFIX));
    const accepted = new Set<string>();
    const history = await handle.fetchHistory();
    for (const e of history.events ?? []) {
      const update = e.workflowExecutionUpdateAcceptedEventAttributes;
      if (update) accepted.add(String(update.acceptedRequest?.input?.name));
    }
    expect(accepted).toEqual(new Set(['control']));
    expect((await handle.query(controlsQuery)).actions).toBe(all.length);
  });

  it('actions that wait behind a running one run one at a time, after it', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    const resting = await placed(u, { symbol: 'AMZN', direction: 'buy', quantity: 1, price: '185.00' });
    const handle = fx.temporal.workflow.getHandle(marketControlsWorkflowId(fx.config.TASK_QUEUE_PREFIX));
    const accepted = async () =>
      ((await handle.fetchHistory()).events ?? []).filter(
        (e) => e.workflowExecutionUpdateAcceptedEventAttributes,
      ).length;
    const before = await accepted();
    // The freeze's cancel of the resting order holds the shard until both other actions wait behind it.
    let entered!: () => void;
    const cancelling = new Promise<void>((resolve) => (entered = resolve));
    beforeCancel = async () => {
      entered();
      await eventually(async () => expect(await accepted()).toBe(before + 3));
    };
    const freeze = admin('POST', `/accounts/${u.accountId}/freeze`, { reason: 'one at a time' });
    await cancelling;
    const waiting = await Promise.all([
      admin('POST', `/accounts/${u.accountId}/unfreeze`, { reason: 'one at a time' }),
      admin('PUT', `/accounts/${u.accountId}/limits`, { reason: 'one at a time', max_open_orders: 5 }),
    ]);
    expect(await ok(await freeze)).toMatchObject({ cancelled: [resting.order_id] });
    for (const res of waiting) await ok(res);
    expect(await patchesTaken(handle)).toContain('one-control-at-a-time');
    await placed(u, { symbol: 'AMZN', direction: 'buy', quantity: 1, price: '185.00' });
    await ok(await fx.api.call('DELETE', '/api/v1/orders', { token: u.token }));
    keepHistory('market-controls', handle); // still running: every action of this file so far
  });

  it('continues as new past its history limit, carrying the controls', async () => {
    const id = marketControlsWorkflowId(fx.config.TASK_QUEUE_PREFIX);
    await fx.temporal.workflow.getHandle(id).terminate('test: restart with a short history limit');
    await fx.temporal.workflow.start(MARKET_CONTROLS, {
      workflowId: id,
      taskQueue: withPrefix(fx.config.TASK_QUEUE_PREFIX, TRADING_TASK_QUEUE),
      args: [{ maxHistoryEvents: 20 }],
    });
    const first = (await fx.temporal.workflow.getHandle(id).describe()).runId;
    await ok(await admin('POST', '/symbols/GOOG/halt', { reason: 'can 1' }));
    for (let i = 0; i < 3; i++) {
      await ok(await admin('POST', '/kill-switch', { symbol: 'TSLA', reason: `can ${i}` }));
      await ok(await admin('POST', '/kill-switch/release', { symbol: 'TSLA', reason: `can ${i}` }));
    }
    const handle = fx.temporal.workflow.getHandle(id);
    expect((await handle.describe()).runId).not.toBe(first);
    expect(await handle.query(controlsQuery)).toMatchObject({
      halted: ['GOOG'],
      killSwitches: [],
      actions: 7,
    });
    await ok(await admin('POST', '/symbols/GOOG/resume', { reason: 'done' }));
    keepHistory('market-controls-continue-as-new', handle, first); // the run that continued as new
  });
});

describe('users: suspension, reinstatement and roles that take effect', () => {
  let served: ServedFeed;
  beforeAll(async () => (served = await serveWithFeed(fx.api.app, fx.api.deps)));
  afterAll(() => served?.close());

  it('suspend ends every session at once (REST, refresh, sockets, the login in progress) and refuses login; reinstate lets it log in again; both audited', async () => {
    const user = await createFundedUser(fx.api, '0.00');
    const socket = await connectFeed(served.url, { token: user.token, tokenInProtocol: true });
    const after = Date.now() - 1000;
    const login = () =>
      fx.api.call('POST', '/api/v1/auth/login', { body: { email: user.email, password: TEST_PASSWORD } });
    expect((await login()).status).toBe(200);
    const code = await loginCode(user.email, after);

    const suspended = await ok(
      await admin('POST', `/users/${user.userId}/suspend`, { reason: 'account takeover suspected' }),
    );
    expect(suspended).toMatchObject({ action: 'suspend_user', target: user.userId, cancelled: [] });
    expect((await socket.closed).code).toBe(4003);
    await expectProblem(await fx.api.call('GET', '/api/v1/portfolio', { token: user.token }), 401);
    await expectProblem(
      await fx.api.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: user.refreshToken } }),
      401,
    );
    await expectProblem(
      await fx.api.call('POST', '/api/v1/auth/verify_mfa', { body: { email: user.email, code } }),
      401,
    );
    await expectProblem(await login(), 403, 'forbidden');

    await ok(await admin('POST', `/users/${user.userId}/reinstate`, { reason: 'owner verified' }));
    const back = await loginWithEmailCode(fx.api, user.email);
    expect((await fx.api.call('GET', '/api/v1/portfolio', { token: back.token })).status).toBe(200);
    // The sessions the suspension ended stay ended.
    await expectProblem(await fx.api.call('GET', '/api/v1/portfolio', { token: user.token }), 401);

    const entries = (await ok(await admin('GET', '/audit?limit=2'))).entries as Json[];
    expect(entries.map((e) => [e.action, e.target, e.reason])).toEqual([
      ['reinstate_user', user.userId, 'owner verified'],
      ['suspend_user', user.userId, 'account takeover suspected'],
    ]);
    expect(entries[0]).toMatchObject({ operator: { email: operator.email } });
  });

  it('refuses an unknown user (404), a malformed id and an operator suspending themselves (422), writing nothing', async () => {
    const unknown = randomUUID();
    await expectProblem(await admin('POST', `/users/${unknown}/suspend`, { reason: 'x' }), 404, 'not_found');
    await expectProblem(
      await admin('POST', '/users/not-a-uuid/suspend', { reason: 'x' }),
      422,
      'validation_failed',
    );
    const self = String(decodeJwt(operator.token).sub);
    await expectProblem(
      await admin('POST', `/users/${self}/suspend`, { reason: 'x' }),
      422,
      'validation_failed',
    );
    const audit = (await ok(await admin('GET', '/audit?limit=200'))).entries as Json[];
    const targets = audit.map((e) => e.target);
    expect(targets).not.toContain(unknown);
    expect(targets).not.toContain(self);
  });

  it('an operator demoted loses operator access on its next requests with its unexpired token; one suspended loses all access', async () => {
    const email = uniqueEmail('ops2');
    const made = await createOperator(fx.database.db, { email, password: TEST_PASSWORD }, new Date());
    if (!made.ok) throw new Error(made.error);
    const { token } = await loginWithEmailCode(fx.api, email);
    expect(decodeJwt(token).role).toBe('operator');
    expect((await admin('GET', '/controls', undefined, token)).status).toBe(200);

    // Demoted in Postgres (no event): refused within the session check's cache time, as a client.
    await setUserRole(fx.database.db, made.userId, 'client');
    await eventually(async () =>
      expectProblem(await admin('GET', '/controls', undefined, token), 403, 'forbidden'),
    );
    expect((await fx.api.call('GET', '/api/v1/portfolio', { token })).status).toBe(200);

    // Operator again, then suspended through the route by the other operator: every request is 401.
    await setUserRole(fx.database.db, made.userId, 'operator');
    await eventually(async () =>
      expect((await admin('GET', '/controls', undefined, token)).status).toBe(200),
    );
    await ok(await admin('POST', `/users/${made.userId}/suspend`, { reason: 'left the desk' }));
    await expectProblem(await admin('GET', '/controls', undefined, token), 401);
  });
});
