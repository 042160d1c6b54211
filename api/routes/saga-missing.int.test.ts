/**
 * An open order whose saga is gone (terminated here; lost with Temporal's database alike,
 * docs/runbooks/temporal-outage.md): its cancel and replace answer 503 `saga_missing` (not 409
 * `order_closed`: the order is open), cancel-all lists it as failed `saga_missing`, the auditor reports
 * it (`npm run audit`); `npm run sagas:readopt` lists it, then with `--apply` starts its saga again,
 * once; after that the order is replaced, filled and cancelled as any other, its reservation released,
 * and the auditor finds nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFinding, runAudit } from '../../db/audit.js';
import { sagaRunning } from '../../temporal/saga-recovery.js';
import { expectProblem } from '../../test/http.js';
import { eventually, placeGtc, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';

let fx: TradingFixture;
let buyer: FundedTestUser;
let seller: FundedTestUser;
/** The buy whose saga is terminated, and another open order of the buyer that keeps its saga. */
const lost = { id: '', cid: 'lost-1' };
let kept = '';

/** An operator script as operators run it, against the fixture's database and Temporal. */
const script = (file: string, ...args: string[]) => fx.script(file, args);

const place = (u: FundedTestUser, order: Record<string, unknown>) => placeGtc(fx.api, u.token, order);

beforeAll(async () => {
  fx = await startTradingFixture('sagamissing');
  [buyer, seller] = await Promise.all([
    createFundedUser(fx.api, '10000.00'),
    createFundedUser(fx.api, '0', { AAPL: 10n }),
  ]);
  lost.id = (
    await place(buyer, { direction: 'buy', quantity: 4, price: '160.00', client_order_id: lost.cid })
  ).order_id;
  kept = (await place(buyer, { direction: 'buy', quantity: 1, price: '400.00', symbol: 'MSFT' })).order_id;
  await fx.handle(buyer.accountId, lost.cid).terminate('test: the saga is gone');
}, 180_000);

afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

describe('an open order whose saga is gone', () => {
  it('cancel and replace answer 503 saga_missing, not 409 order_closed; nothing changes', async () => {
    const cancel = await fx.api.call('POST', `/api/v1/orders/${lost.id}/cancel`, {
      token: buyer.token,
      body: { client_version: 0 },
    });
    const p = await expectProblem(cancel, 503, 'saga_missing');
    expect(p.detail).toMatch(/operators are recovering/);
    await expectProblem(
      await fx.api.call('DELETE', `/api/v1/orders/${lost.id}`, {
        token: buyer.token,
        headers: { 'idempotency-key': 'sagamissing-1' },
      }),
      503,
      'saga_missing',
    );
    await expectProblem(
      await fx.api.call('POST', `/api/v1/orders/${lost.id}/replace`, {
        token: buyer.token,
        body: { order: { client_version: 0, price: '161.00' } },
      }),
      503,
      'saga_missing',
    );
    const row = await fx.api.call('GET', `/api/v1/orders/${lost.id}`, { token: buyer.token });
    expect(await row.json()).toMatchObject({ status: 'working', lock_version: 0, reserved_amount: 640 });
  });

  it('cancel-all lists it as failed saga_missing and cancels the order whose saga runs', async () => {
    const res = await fx.api.call('DELETE', '/api/v1/orders', { token: buyer.token });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      cancelled: { order_id: string }[];
      failed: { order_id: string; code: string }[];
    };
    expect(body.cancelled.map((o) => o.order_id)).toEqual([kept]);
    expect(body.failed).toEqual([
      expect.objectContaining({ order_id: lost.id, code: 'saga_missing' }) as unknown,
    ]);
  });

  it('the auditor reports it (runAudit with Temporal, and npm run audit)', async () => {
    const findings = await runAudit(fx.database.db, {
      only: [],
      sagaRunning: (id) => sagaRunning(fx.temporal.workflow, id),
    });
    expect(findings.map(formatFinding)).toEqual([
      `order_saga_missing: order ${lost.id} (working): no running saga ${fx.handle(buyer.accountId, lost.cid).workflowId}: nothing can cancel, replace or expire it (npm run sagas:readopt)`,
    ]);
    // A check that stops short says so: the audit cannot vouch for the open orders it did not ask about.
    const capped = await runAudit(fx.database.db, {
      only: [],
      sagaRunning: (id) => sagaRunning(fx.temporal.workflow, id),
      sagaCheckLimit: 0,
    });
    expect(capped.map(formatFinding)).toEqual([
      'order_saga_check_truncated: open orders after the oldest 0: their sagas were not asked about: the check stops at 0 open orders',
    ]);
    const audit = await script('scripts/audit.ts');
    expect(audit.code, audit.stdout).toBe(1);
    expect(audit.stdout).toContain(`order_saga_missing: order ${lost.id} (working)`);
  });

  it('npm run sagas:readopt lists it, re-adopts it with --apply, and once only', async () => {
    const dry = await script('scripts/readopt-sagas.ts');
    expect(dry.code, dry.stdout).toBe(1);
    expect(dry.stdout).toContain(`order ${lost.id} (working, saga `);
    expect(dry.stdout).toContain('would re-adopt');
    expect(await sagaRunning(fx.temporal.workflow, fx.handle(buyer.accountId, lost.cid).workflowId)).toBe(
      false,
    );

    const applied = await script('scripts/readopt-sagas.ts', '--apply');
    expect(applied.code, applied.stdout).toBe(0);
    expect(applied.stdout).toContain(`order ${lost.id} (working, saga `);
    expect(applied.stdout).toMatch(/^1 re-adopted, 0 left without a saga/m);
    expect(await fx.saga(buyer.accountId, lost.cid)).toMatchObject({
      orderId: lost.id,
      status: 'working',
      phase: 'live',
      lockVersion: 0,
      quantity: '4',
      price: '16000',
      filledQuantity: '0',
      reservedAmount: '64000',
    });

    const again = await script('scripts/readopt-sagas.ts', '--apply');
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toMatch(/^0 re-adopted, 0 left without a saga/m);
    expect((await script('scripts/audit.ts')).code).toBe(0);
  });

  it('re-adopted, it is replaced, filled and cancelled as any order; its reservation is released', async () => {
    const replace = await fx.api.call('POST', `/api/v1/orders/${lost.id}/replace`, {
      token: buyer.token,
      body: { order: { client_version: 0, price: '162.00' } },
    });
    expect(replace.status, await replace.clone().text()).toBe(200);
    expect(await replace.json()).toMatchObject({ lock_version: 1, price: 162 });

    // The seller's sell crosses it: the saga hears of the fill from the relay.
    await place(seller, { direction: 'sell', quantity: 1, price: '162.00', time_in_force: 'IOC' });
    await eventually(async () =>
      expect(await fx.saga(buyer.accountId, lost.cid)).toMatchObject({
        status: 'partially_filled',
        filledQuantity: '1',
      }),
    );

    const cancel = await fx.api.call('POST', `/api/v1/orders/${lost.id}/cancel`, {
      token: buyer.token,
      body: { client_version: 1 },
    });
    expect(cancel.status, await cancel.clone().text()).toBe(200);
    expect(await cancel.json()).toMatchObject({ status: 'cancelled', order: { reserved_amount: 0 } });
    expect((await fx.balance(buyer.accountId)).reserved).toBe(0n);
    await expect(fx.handle(buyer.accountId, lost.cid).result()).resolves.toMatchObject({
      status: 'cancelled',
    });
    await eventually(async () =>
      expect(
        await runAudit(fx.database.db, { sagaRunning: (id) => sagaRunning(fx.temporal.workflow, id) }),
      ).toEqual([]),
    );
  });
});
