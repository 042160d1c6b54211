/**
 * Fan-out across api instances: three real api processes (api/main.ts) on one isolated database and
 * Redis prefix, the workers in process. Orders placed anywhere reach exactly the sockets entitled to
 * them, on whichever instance they are; a SIGTERM drains an instance and its clients resume elsewhere.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { freePort, startProcess, waitForPort, type Managed } from '../../devstack/processes.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';
import { CloseCode } from './protocol.js';
import { accountFrames, connectFeed, type FeedClient, type Frame } from './testing.js';

let fx: TradingFixture;
const procs: Managed[] = [];
const urls: string[] = [];
const clients: FeedClient[] = [];
let seller: FundedTestUser;
let buyer: FundedTestUser;
let bystander: FundedTestUser;

beforeAll(async () => {
  fx = await startTradingFixture('wsinst');
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  const metricsPorts = await Promise.all([freePort(), freePort(), freePort()]);
  for (const [i, port] of ports.entries()) {
    const env = {
      ...process.env,
      ...inject('env'),
      ...fx.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      API_METRICS_PORT: String(metricsPorts[i]),
      INSTANCE_ID: `ws-${i + 1}`,
      WS_SWEEP_SECONDS: '1',
    };
    procs.push(
      startProcess(`api-ws-${i + 1}`, process.execPath, ['--import', 'tsx', 'api/main.ts'], { env }),
    );
    urls.push(`ws://127.0.0.1:${port}/ws`);
  }
  [seller, buyer, bystander] = await Promise.all([
    createFundedUser(fx.api, '0.00', { AAPL: 50n }),
    createFundedUser(fx.api, '50000.00'),
    createFundedUser(fx.api, '50000.00'),
  ]);
  await Promise.all(ports.map((port, i) => waitForPort(port, `api ${i + 1}`, 60_000, procs[i])));
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(procs.map((p) => p.stop('SIGTERM', 5000)));
  if (fx) await fx.close();
});

async function open(instance: number, user: FundedTestUser, since?: number): Promise<FeedClient> {
  const c = await connectFeed(urls[instance]!, { token: user.token, since });
  clients.push(c);
  return c;
}

async function subscribeAll(c: FeedClient): Promise<number> {
  c.send({ op: 'subscribe', channel: 'trades', symbol: 'AAPL', id: 't' });
  await c.waitFor((f) => f.type === 'subscribed' && f.id === 't');
  c.send({ op: 'subscribe', channel: 'executions' });
  return (await c.waitFor((f) => f.type === 'caught_up')).seq as number;
}

let n = 0;
async function place(user: FundedTestUser, side: 'buy' | 'sell', quantity: number, price: string) {
  const res = await fx.api.call('POST', '/api/v1/orders', {
    token: user.token,
    body: {
      order: {
        symbol: 'AAPL',
        order_type: 'limit',
        direction: side,
        quantity,
        price,
        time_in_force: 'GTC',
        client_order_id: `inst-${++n}`,
      },
    },
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { order_id: string; status: string };
}

async function outbox(accountId: string, after: number) {
  const rows = await fx.database.db.execute<{ seq: string; event_id: string }>(sql`
    SELECT account_seq::text AS seq, coalesce(payload->>'event_id', id::text) AS event_id FROM outbox
    WHERE account_id = ${accountId}::uuid AND account_seq > ${after} ORDER BY account_seq`);
  return rows.map((r) => ({ seq: Number(r.seq), event_id: r.event_id }));
}

const ids = (frames: Frame[]) => frames.map((f) => [f.seq, f.event_id]);

describe('three api instances', () => {
  it('each client receives exactly the events it is entitled to, whichever instance it is on', async () => {
    const s1 = await open(0, seller);
    const b2 = await open(1, buyer);
    const x3 = await open(2, bystander);
    const s3 = await open(2, seller); // the same account on another instance
    expect([s1, b2, x3, s3].map((c) => c.welcome.instance_id)).toEqual(['ws-1', 'ws-2', 'ws-3', 'ws-3']);
    const [sStart, bStart, xStart] = await Promise.all([
      subscribeAll(s1),
      subscribeAll(b2),
      subscribeAll(x3),
      subscribeAll(s3),
    ]);

    await place(seller, 'sell', 10, '190.00');
    expect((await place(buyer, 'buy', 4, '190.00')).status).toBe('filled');
    expect((await place(buyer, 'buy', 6, '190.50')).status).toBe('filled');

    const sellerEvents = await outbox(seller.accountId, sStart);
    const buyerEvents = await outbox(buyer.accountId, bStart);
    // accepted + new + partial_fill + fill for the seller; accepted + fill twice for the buyer.
    expect(sellerEvents).toHaveLength(4);
    expect(buyerEvents).toHaveLength(4);
    for (const c of [s1, s3]) {
      await eventually(async () =>
        expect(ids(accountFrames(c))).toEqual(sellerEvents.map((e) => [e.seq, e.event_id])),
      );
    }
    await eventually(async () =>
      expect(ids(accountFrames(b2))).toEqual(buyerEvents.map((e) => [e.seq, e.event_id])),
    );
    for (const c of [s1, b2, x3, s3]) {
      await eventually(async () =>
        expect(c.frames.filter((f) => f.type === 'trade').map((f) => f.quantity)).toEqual([4, 6]),
      );
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(accountFrames(x3)).toEqual([]);
    expect(await outbox(bystander.accountId, xStart)).toEqual([]);
    expect(accountFrames(s1).map((f) => f.exec_type ?? f.type)).toEqual([
      'order_accepted',
      'new',
      'partial_fill',
      'fill',
    ]);
  });

  it('SIGTERM drains an instance: its clients get reconnect and 1012, and resume on another without a gap', async () => {
    const c = await open(0, buyer);
    const start = await subscribeAll(c);
    await place(buyer, 'buy', 1, '185.00');
    const seen = await c.waitFor((f) => f.type === 'execution' && f.exec_type === 'new');
    procs[0]!.child.kill('SIGTERM');
    expect(await c.waitFor((f) => f.type === 'reconnect')).toMatchObject({ reason: 'server_shutdown' });
    expect((await c.closed).code).toBe(CloseCode.ServiceRestart);

    // Orders go on while the client moves.
    await place(buyer, 'buy', 2, '185.00');
    const moved = await open(1, buyer, seen.seq as number);
    await moved.waitFor((f) => f.type === 'caught_up');
    await place(buyer, 'buy', 3, '185.00');
    const expected = await outbox(buyer.accountId, seen.seq as number);
    expect(expected).toHaveLength(4);
    await eventually(async () =>
      expect(ids(accountFrames(moved))).toEqual(expected.map((e) => [e.seq, e.event_id])),
    );
    // Before and after the move together: every event since the first subscribe once.
    const all = [...accountFrames(c), ...accountFrames(moved)].map((f) => f.seq);
    expect(all).toEqual((await outbox(buyer.accountId, start)).map((e) => e.seq));
    expect(await procs[0]!.exited).toBe(0);
  });
});
