/**
 * One outbox relay active at a time (./worker.ts, ADR 0035): a second relay stands by and claims
 * nothing; when the active relay's lease connection is terminated it stops relaying and stands by, and
 * the standby takes over; when that one stops, the first takes over again. Each takeover relays the
 * next trade's fills to both parties' mailboxes.
 */
import { NativeConnection } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applicationName } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { terminateConnections } from '../../test/faults.js';
import { waitForMail } from '../../test/helpers.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser } from '../../test/users.js';
import { createOutboxWorker } from './worker.js';

let fx: TradingFixture;
let connection: NativeConnection;
beforeAll(async () => {
  fx = await startTradingFixture('relay-standby', { relay: false });
  connection = await NativeConnection.connect({ address: fx.config.TEMPORAL_ADDRESS });
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await connection?.close();
  await fx.close();
});

function relayWorker(name: string) {
  const registry = new Registry();
  const appName = applicationName(fx.config, 'test', name);
  const worker = createOutboxWorker(fx.config, {
    connection,
    sql: fx.database.sql,
    logger: createLogger('warn'),
    registry,
    name,
    appName,
    pollMs: 200,
    lockPollMs: 100,
  });
  /** Outbox rows this relay has handled, whatever their outcome. */
  const handled = async () =>
    (await registry.getSingleMetric('outbox_events_processed_total')!.get()).values.reduce(
      (n, v) => n + v.value,
      0,
    );
  const gauge = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;
  const activeGauge = () => gauge('outbox_relay_active');
  return { worker, appName, handled, gauge, activeGauge };
}

/** A crossing pair; both parties' fill mails arrive (the relay sends them). */
async function trade(): Promise<void> {
  const seller = await createFundedUser(fx.api, '0.00', { MSFT: 1n });
  const buyer = await createFundedUser(fx.api, '500.00');
  for (const [user, direction] of [
    [seller, 'sell'],
    [buyer, 'buy'],
  ] as const) {
    const res = await fx.api.call('POST', '/api/v1/orders', {
      token: user.token,
      body: {
        order: {
          symbol: 'MSFT',
          order_type: 'limit',
          direction,
          quantity: 1,
          price: '420.00',
          time_in_force: 'GTC',
        },
      },
    });
    expect(res.status).toBe(201);
  }
  await waitForMail(buyer.email, { subject: /fill/i });
  await waitForMail(seller.email, { subject: /fill/i });
}

it('one relay relays, the other stands by and takes over when the lease is free', async () => {
  const a = relayWorker('relay-a');
  const b = relayWorker('relay-b');
  try {
    a.worker.start();
    await eventually(async () => expect(a.worker.active()).toBe(true));
    b.worker.start();
    await new Promise((r) => setTimeout(r, 500)); // five of its attempts at the lease
    expect(b.worker.active()).toBe(false);

    await trade();
    expect(await a.handled()).toBeGreaterThan(0);
    expect(await b.handled()).toBe(0);
    expect([await a.activeGauge(), await b.activeGauge()]).toEqual([1, 0]);
    // The standby reports the backlog too (the lag alerts must not depend on which relay is active): a
    // row not to be retried for an hour stays pending.
    const [row] = await fx.database.sql<{ id: string }[]>`
      INSERT INTO outbox (event_type, payload, retry_at)
      VALUES ('market.update', '{"symbol": "STANDBY"}'::jsonb, now() + interval '1 hour') RETURNING id`;
    await eventually(async () => expect(await b.gauge('outbox_pending')).toBeGreaterThanOrEqual(1), 5_000);
    await fx.database.sql`DELETE FROM outbox WHERE id = ${row!.id}::uuid`;

    // The active relay's lease connection is terminated: it stops relaying and stands by.
    expect(await terminateConnections(fx.config.DATABASE_URL, a.appName)).toBeGreaterThan(0);
    await eventually(async () => expect([a.worker.active(), b.worker.active()]).toEqual([false, true]));
    const before = await b.handled();
    await trade();
    expect(await b.handled()).toBeGreaterThan(before);
    expect([await a.activeGauge(), await b.activeGauge()]).toEqual([0, 1]);

    // The active relay stops: the first one, standing by again, takes over.
    await b.worker.stop();
    await eventually(async () => expect(a.worker.active()).toBe(true));
    const again = await a.handled();
    await trade();
    expect(await a.handled()).toBeGreaterThan(again);
  } finally {
    await Promise.all([a.worker.stop(), b.worker.stop()]);
  }
}, 60_000);
