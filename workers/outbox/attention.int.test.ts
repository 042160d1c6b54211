/**
 * What waits for an operator, counted by the active relay for the alerts on that state
 * (ops/prometheus/alerts.yml: SagaNeedsAttention, OutboxDeadLetters): a dead outbox row in Postgres is
 * `outbox_dead_rows` 1 for its type until it is requeued; a TradingSaga parked in needs_attention (a
 * compensation that keeps failing) is `saga_needs_attention` 1 in Temporal's visibility until an
 * operator's retry ends it. A relay that stops (standing by) reports 0.
 */
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MatchingActivities, OrderActivities } from '../../temporal/activities.js';
import { retryCompensationsSignal } from '../../workflows/trading-saga.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser } from '../../test/users.js';

type Step = keyof OrderActivities | keyof MatchingActivities;
/** The steps that fail on their next call (set by each test). */
const failing = new Set<Step>();

function wrap<T extends object>(activities: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities) as [Step, (...a: unknown[]) => Promise<unknown>][]) {
    out[name] = async (...args: unknown[]) => {
      if (failing.has(name))
        throw ApplicationFailure.create({
          type: 'InjectedFault',
          message: `injected failure in ${name}`,
          nonRetryable: true,
        });
      return fn(...args);
    };
  }
  return out as T;
}

let fx: TradingFixture;
beforeAll(async () => {
  fx = await startTradingFixture('attention', {
    wrapOrderActivities: wrap,
    wrapMatchingActivities: wrap,
    env: { ATTENTION_INTERVAL_SECONDS: '0.2' },
  });
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});
beforeEach(() => failing.clear());

/** A gauge's value in the stack's registry (the fixture's relay is the active one), by label. */
async function gauge(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = fx.stack.registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  return (await metric.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    ?.value;
}

describe('outbox_dead_rows', () => {
  it('counts the dead rows of the outbox table by type until they are requeued; 0 while standing by', async () => {
    const [row] = await fx.database.db.execute<{ id: string }>(sql`
      INSERT INTO outbox (event_type, payload, status, attempts, last_error)
      VALUES ('market.update', '{"symbol":"ZZZZ"}'::jsonb, 'dead', 10, 'injected') RETURNING id`);
    try {
      await eventually(async () =>
        expect(await gauge('outbox_dead_rows', { event_type: 'market.update' })).toBe(1),
      );
      expect(await gauge('outbox_dead_rows', { event_type: 'execution.report' })).toBe(0);

      await fx.stack.relay.stop();
      try {
        expect(await gauge('outbox_dead_rows', { event_type: 'market.update' })).toBe(0);
      } finally {
        await fx.stack.relay.start();
      }
      await eventually(async () =>
        expect(await gauge('outbox_dead_rows', { event_type: 'market.update' })).toBe(1),
      );

      // Requeued, as the runbook says (the relay then relays it: a market update of an unknown symbol).
      await fx.database.db.execute(
        sql`UPDATE outbox SET status = 'pending', attempts = 0, retry_at = NULL WHERE id = ${row!.id}::uuid`,
      );
      await eventually(async () =>
        expect(await gauge('outbox_dead_rows', { event_type: 'market.update' })).toBe(0),
      );
    } finally {
      await fx.database.db.execute(sql`DELETE FROM outbox WHERE id = ${row!.id}::uuid`);
    }
  });
});

describe('saga_needs_attention', () => {
  it('counts the sagas parked in needs_attention in Temporal until an operator retry ends them', async () => {
    expect(await gauge('saga_needs_attention')).toBe(0);
    const u = await createFundedUser(fx.api, '10000.00');
    // The submit fails; of its compensations withdrawFromBook succeeds, releaseReservation keeps failing.
    failing.add('submitOrder');
    failing.add('releaseReservation');
    const res = await fx.api.call('POST', '/api/v1/orders', {
      token: u.token,
      body: {
        order: {
          symbol: 'AAPL',
          order_type: 'limit',
          direction: 'buy',
          quantity: 10,
          price: 160,
          time_in_force: 'GTC',
          client_order_id: 'parked',
        },
      },
    });
    expect(res.status).toBe(503);
    await eventually(async () => expect(await gauge('saga_needs_attention')).toBe(1), 30_000);
    expect(await gauge('attention_read_failures_total', { gauge: 'saga_needs_attention' })).toBe(0);

    failing.clear();
    const handle = fx.handle(u.accountId, 'parked');
    await handle.signal(retryCompensationsSignal);
    expect(await handle.result()).toMatchObject({ status: 'rejected' });
    await eventually(async () => expect(await gauge('saga_needs_attention')).toBe(0), 30_000);
    expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n, reserved: 0n });
  });
});
