/**
 * The fault suite of issue 17 (part 2) on the production topology (devstack/cluster.ts): eight clients
 * stream crossing AAPL orders through nginx, each retrying with its own client_order_id, each with a
 * WebSocket subscriber that resumes with `since` after a dropped socket. In turn: SIGKILL an api
 * instance, SIGKILL a trading worker, stop the owner of AAPL's matching shard (the standby takes over),
 * SIGKILL the active outbox relay (the standby relay takes over), stop and restart Temporal's server
 * (orders meanwhile answered 503/429 with Retry-After, never 500), restart Redis, terminate the
 * cluster's own Postgres connections. After each fault the streams pause and the auditor (db/audit.ts:
 * runAudit, and auditDeliveries for the feed and the mail) must find nothing.
 *
 * The suite owns what it breaks: its own redis-server, its own databases and connection names (the
 * cluster's prefix). It runs in the `cluster` vitest project: last, alone, one file at a time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectFeed, type FeedClient, type Frame } from '../api/ws/testing.js';
import { HOUSE_ACCOUNT_ID } from '../db/accounts.js';
import { auditDeliveries, fillOfMail, formatFinding, runAudit } from '../db/audit.js';
import { connectDatabase, type Database } from '../db/client.js';
import { dropDatabasesNamed } from '../db/migrate.js';
import { postEntry } from '../db/queries/ledger.js';
import { startCluster, type Cluster } from '../devstack/cluster.js';
import { loadConfig } from '../lib/config.js';
import { shardOf } from '../matching/index.js';
import type { Session } from '../load/client.js';
import { session } from '../load/scenarios/users.js';
import { clusterBinaries } from './binaries.js';
import { eventually } from './eventually.js';
import { startPrivateRedis, terminateConnections, type PrivateRedis } from './faults.js';

const CLIENTS = 8;
const PASSWORD = 'correct-horse-battery-staple';
/** How long each fault lasts while the clients stream. */
const FAULT_WINDOW_MS = 4_000;

const binaries = clusterBinaries();
const base = loadConfig(process.env);
const prefix = `cfault_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}_`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface StreamingClient {
  s: Session;
  side: 'buy' | 'sell';
  placed: number;
  /** Every answer's status, in order (retries included). */
  statuses: number[];
  /** Answers a client must never get: a 500, or a 503/429 without Retry-After. */
  bad: string[];
  conns: FeedClient[];
}

let redis: PrivateRedis;
let cluster: Cluster;
let db: Database;
let clients: StreamingClient[] = [];
let streaming = false;
let stopping = false;
let loops: Promise<void>[] = [];
/** The api instances' error lines ("unhandled error" with its stack): what a 500 was, when one happens. */
const apiErrors: string[] = [];
const collectApiErrors = (name: string, line: string) => {
  if (name.startsWith('api') && line.includes('"level":"error"') && apiErrors.length < 20)
    apiErrors.push(`[${name}] ${line}`);
};

const framesOf = (c: StreamingClient): Frame[] =>
  c.conns.flatMap((f) => f.frames.filter((x) => typeof x.seq === 'number' && x.type !== 'caught_up'));
const lastSeq = (c: StreamingClient) => Math.max(0, ...framesOf(c).map((f) => f.seq as number));

/** One order, retried with the same client_order_id until it gets an answer that is not "come back". */
async function placeOne(c: StreamingClient): Promise<void> {
  const clientOrderId = `${c.side}-${c.s.accountId.slice(0, 8)}-${++c.placed}`;
  const body = JSON.stringify({
    order: {
      symbol: 'AAPL',
      order_type: 'limit',
      direction: c.side,
      quantity: 1,
      price: '160.00',
      time_in_force: 'GTC',
      client_order_id: clientOrderId,
    },
  });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !stopping) {
    let res: Response;
    try {
      res = await fetch(`${cluster.urls.api}/api/v1/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${c.s.token}` },
        body,
        signal: AbortSignal.timeout(40_000),
      });
    } catch {
      await sleep(250); // connection dropped by a killed instance: the same client_order_id again
      continue;
    }
    const text = await res.text();
    c.statuses.push(res.status);
    if (res.status < 300) return;
    if (res.status === 503 || res.status === 429) {
      const after = Number(res.headers.get('retry-after'));
      if (!(after >= 1)) c.bad.push(`${res.status} without Retry-After: ${text}`);
      await sleep(Math.min(after || 1, 2) * 1000);
      continue;
    }
    if (res.status === 502 || res.status === 504) {
      await sleep(250); // nginx: the instance died under this request (it never retries a POST)
      continue;
    }
    c.bad.push(`${res.status}: ${text}`);
    return;
  }
}

async function stream(c: StreamingClient): Promise<void> {
  while (!stopping) {
    if (!streaming) {
      await sleep(100);
      continue;
    }
    await placeOne(c);
  }
}

/** A subscriber that reconnects after a dropped socket, resuming after the last seq it saw. */
async function subscribe(c: StreamingClient): Promise<void> {
  const url = `${cluster.urls.api.replace(/^http/, 'ws')}/ws`;
  while (!stopping) {
    let feed: FeedClient;
    try {
      feed = await connectFeed(url, { token: c.s.token, since: lastSeq(c) });
    } catch {
      await sleep(500);
      continue;
    }
    // `?since=` subscribes at once and resumes after it. (A second `subscribe` without `since` would
    // restart the stream at the account's current seq and skip what happened while disconnected.)
    c.conns.push(feed);
    await feed.closed;
  }
}

async function mailedFills() {
  const res = await fetch(`${cluster.urls.mailpit}/api/v1/messages?limit=10000`);
  const { messages } = (await res.json()) as { messages: { MessageID: string }[] };
  return messages.flatMap((m) => {
    const f = fillOfMail(m.MessageID);
    return f ? [f] : [];
  });
}

/** Pause the streams, wait for what is in flight, then the auditor must find nothing. */
async function expectCleanAudit(): Promise<void> {
  streaming = false;
  const accountIds = clients.map((c) => c.s.accountId);
  try {
    await eventually(async () => {
      const feed = clients.flatMap((c) =>
        framesOf(c)
          .filter((f) => typeof f.fill_id === 'string')
          .map((f) => ({ fillId: f.fill_id as string, orderId: f.order_id as string })),
      );
      const findings = [
        ...(await runAudit(db.db, { pendingGraceSeconds: 5 })),
        ...(await auditDeliveries(db.db, { accountIds, feed, mail: await mailedFills() })),
      ];
      expect(findings.map(formatFinding)).toEqual([]);
    }, 60_000);
    expect(
      clients.flatMap((c) => c.bad),
      apiErrors.join('\n'),
    ).toEqual([]);
  } finally {
    streaming = true; // a failed audit must not leave the next fault without traffic
  }
}

/** The relay instance (outbox-1, outbox-2) whose lease connection holds the relay's advisory lock. */
async function activeRelay(): Promise<string | undefined> {
  const [row] = await db.sql<{ name: string }[]>`
    SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND starts_with(a.application_name, ${`${prefix}outbox-`})`;
  return row?.name.slice(prefix.length).replace(/-lease$/, '');
}

/** AAPL's matching shard, with the MATCHING_SHARDS compose gives the matching workers. */
function aaplShard(): number {
  const launch = cluster.plan.services.find((s) => s.name === 'matching-0')?.launch;
  if (launch?.kind !== 'process') throw new Error('matching-0 is not a process of the cluster');
  return shardOf('AAPL', Number(launch.env.MATCHING_SHARDS));
}

/** The matching process (matching-0, matching-standby, ...) whose shard-lock connection holds `shard`'s lock. */
async function shardOwner(shard: number): Promise<string | undefined> {
  const suffix = `-shard-${shard}`;
  const [row] = await db.sql<{ name: string }[]>`
    SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND starts_with(a.application_name, ${`${prefix}matching-`})
       AND right(a.application_name, ${suffix.length}) = ${suffix}`;
  return row?.name.slice(prefix.length, -suffix.length);
}

/** Fills so far (from the feed): the streams must keep trading after each fault. */
const fillCount = () =>
  clients.reduce((n, c) => n + framesOf(c).filter((f) => typeof f.fill_id === 'string').length, 0);

async function expectTradingContinues(): Promise<void> {
  const before = fillCount();
  await eventually(async () => expect(fillCount()).toBeGreaterThan(before + CLIENTS), 60_000);
}

beforeAll(async () => {
  redis = await startPrivateRedis();
  cluster = await startCluster({
    ports: 'free',
    prefix,
    databaseUrl: base.DATABASE_URL,
    redisUrl: redis.url,
    toolsDir: base.BROKERX_TOOLS_DIR,
    output: collectApiErrors,
    log: () => undefined,
    debianBins: binaries.bins(),
  });
  const appUrl = new URL(base.DATABASE_URL);
  appUrl.pathname = `/${cluster.databases.app}`;
  db = connectDatabase(appUrl.toString(), { max: 2, appName: 'fault-auditor' });
  const ep = { api: cluster.urls.api, mailpit: cluster.urls.mailpit };
  const sessions: Session[] = [];
  for (let i = 0; i < CLIENTS; i++)
    sessions.push(await session(ep, `fault-${i}-${randomUUID().slice(0, 6)}@example.test`, PASSWORD));
  clients = sessions.map((s, i) => ({
    s,
    side: i % 2 === 0 ? 'buy' : 'sell',
    placed: 0,
    statuses: [],
    bad: [],
    conns: [],
  }));
  // Sellers get their shares from the house account, as test/users.ts does.
  for (const c of clients.filter((x) => x.side === 'sell'))
    await postEntry(db.db, {
      kind: 'test_shares',
      reference: `${c.s.accountId}:${randomUUID()}`,
      memo: 'fault suite: shares from the house account',
      postings: [
        { accountId: HOUSE_ACCOUNT_ID, asset: 'AAPL', bucket: 'available', amount: -2_000n },
        { accountId: c.s.accountId, asset: 'AAPL', bucket: 'available', amount: 2_000n },
      ],
    });
  loops = clients.flatMap((c) => [stream(c), subscribe(c)]);
  await eventually(async () => expect(clients.every((c) => c.conns.length > 0)).toBe(true), 30_000);
  streaming = true;
  await expectTradingContinues();
}, 900_000);

afterAll(async () => {
  stopping = true;
  streaming = false;
  for (const c of clients) for (const f of c.conns) await f.close();
  await Promise.allSettled(loops);
  await cluster?.stop();
  await db?.close();
  await redis?.close();
  await dropDatabasesNamed(base.DATABASE_URL, prefix);
}, 180_000);

const suite = `the production topology under faults, with clients streaming through nginx${binaries.note}`;
describe.skipIf(binaries.skip)(suite, () => {
  it('SIGKILL of an api instance', async () => {
    await cluster.handles['api-1']!.kill('SIGKILL');
    await sleep(FAULT_WINDOW_MS);
    await expectTradingContinues();
    await expectCleanAudit();
  });

  it('SIGKILL of a trading worker', async () => {
    await cluster.handles['worker-trading']!.kill('SIGKILL');
    await sleep(FAULT_WINDOW_MS);
    await expectTradingContinues();
    await expectCleanAudit();
  });

  it("the owner of AAPL's matching shard stops: the other process competing for it takes the shard over", async () => {
    const shard = aaplShard();
    // matching-<shard>, or matching-standby if it took the lock first when the cluster started.
    const owner = await shardOwner(shard);
    expect([`matching-${shard}`, 'matching-standby']).toContain(owner);
    const next = owner === 'matching-standby' ? `matching-${shard}` : 'matching-standby';
    await cluster.handles[owner!]!.stop();
    await eventually(async () => expect(await shardOwner(shard)).toBe(next), 30_000);
    await expectTradingContinues(); // AAPL's orders are served by the process that took the shard over
    await cluster.handles[owner!]!.start();
    await expectCleanAudit();
  });

  it('SIGKILL of the active outbox relay: the standby relay takes over', async () => {
    const active = await activeRelay();
    expect(active).toMatch(/^outbox-[12]$/); // exactly one of the two relays holds the lease
    const standby = active === 'outbox-1' ? 'outbox-2' : 'outbox-1';
    await cluster.handles[active === 'outbox-1' ? 'worker-outbox' : 'worker-outbox-2']!.kill('SIGKILL');
    // The standby asks for the lease every 500 ms; the killed relay restarts after its boot.
    await eventually(async () => expect(await activeRelay()).toBe(standby), 30_000);
    await sleep(FAULT_WINDOW_MS);
    await expectTradingContinues(); // fills reach the feed through the relay that took over
    await expectCleanAudit(); // the relay that took over delivered what the killed one had not marked
  });

  it("Temporal's server stops and restarts: orders meanwhile get 503/429 with Retry-After, never 500", async () => {
    const seen = clients.map((c) => c.statuses.length);
    const during = () => clients.flatMap((c, i) => c.statuses.slice(seen[i]));
    await cluster.handles.temporal!.stop();
    // The api's Temporal client retries a refused connection for a while before it gives up on a
    // request, so the first answers come seconds into the outage: wait for them, the server still down.
    await eventually(
      async () => expect(during().filter((s) => s === 503 || s === 429).length).toBeGreaterThan(0),
      60_000,
    );
    await cluster.handles.temporal!.start();
    expect(during(), apiErrors.join('\n')).not.toContain(500);
    await expectTradingContinues();
    await expectCleanAudit();
  });

  it('Redis restarts (the suite’s own redis-server, empty again)', async () => {
    await redis.restart(FAULT_WINDOW_MS / 2);
    await expectTradingContinues();
    await expectCleanAudit();
  });

  it("the cluster's own Postgres connections are terminated", async () => {
    const terminated = await terminateConnections(base.DATABASE_URL, prefix);
    expect(terminated).toBeGreaterThan(0);
    await expectTradingContinues();
    await expectCleanAudit();
  });
});
