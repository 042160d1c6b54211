/**
 * `npm run bench`: the end-to-end benchmark. Starts a clean stack of its own (Temporal dev server with
 * the committed tuning, Mailpit, a fresh database, the trading, matching and outbox workers and the api
 * as processes), then in the same run measures:
 *   (a) Temporal baselines: the same-shape no-op saga (the TradingSaga itself on the trading worker,
 *       started as the api starts it, with empty steps: load/baselines/) and a single no-op activity
 *       workflow;
 *   (b) the real order flow through the api: closed-loop capacity; ACK latency at 10 orders/s, taking
 *       turns with the no-op saga at the same rate so that both see the same machine; and
 *       constant arrival rates stepped up until errors appear or the ACK p95 doubles;
 *   (c) the stress ramp 100 -> 300 -> 500 virtual users (admission control sheds with 429);
 * then checks that every accepted order is terminal or resting and that the ledger is balanced, and
 * writes docs/benchmarks/e2e.md. Load is generated with fetch (undici keep-alive) by open- and
 * closed-loop drivers that time every request.
 * BENCH_SHAPE=cluster: the same runs against the production topology (devstack/cluster.ts: Temporal's
 * server on Postgres, nginx in front of three api instances, two trading workers, ...) on free ports with
 * databases of its own; writes docs/benchmarks/e2e-cluster.md with each api instance's share.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import WebSocket from 'ws';
import { connectDatabase } from '../db/client.js';
import { HOUSE_ACCOUNT_ID } from '../db/accounts.js';
import { migrateDatabase } from '../db/migrate.js';
import { ledgerImbalances, postEntry } from '../db/queries/ledger.js';
import { loadConfig } from '../lib/config.js';
import { ensureTools } from '../scripts/tools.js';
import { startCluster, type Cluster } from '../devstack/cluster.js';
import { freePort, startProcess, waitForPort, type Managed } from '../scripts/processes.js';
import { dynamicConfigValues, startDevServer } from '../temporal/dev-server.js';
import { deposit, type Endpoints, type Session } from './client.js';
import { userEmail } from './k6/lib/profiles.js';
import { session } from './scenarios/users.js';
import { TAKER } from './baselines/activities.js';
import { NoopActivity } from './baselines/workflows.js';
import { fillSignal, placeOrderUpdate, TRADING_TASK_QUEUE, type OrderRequest } from '../temporal/contracts.js';
import { tradingSagaStart } from '../temporal/saga-start.js';
import { sandboxOptions } from '../workers/sandbox-worker.js';
import { TRADING_WORKER_TUNING } from '../workers/trading/worker.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 15);
/** The ACK-latency comparisons at 10/s run twice as long (a p95 ratio needs the samples), interleaved. */
const ACK_STEP_SECONDS = 2 * STEP_SECONDS;
const ACK_ROUNDS = 3;
/** BENCH_QUICK=1: only the saga baselines and the real flow's capacity and 10/s ACK, printed, not written. */
const QUICK = process.env.BENCH_QUICK === '1';
const CLUSTER = process.env.BENCH_SHAPE === 'cluster';
/** Extra node flags for the stack's processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a run. */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const log = (m: string) => console.log(`[bench] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- measurement ------------------------------------------------------------------------------------

interface Sample {
  ms: number;
  status: number;
  /** Seconds a 429 asked the client to wait. */
  retryAfter?: number;
}

/** What one request returned: the status, or the response itself (for its headers). */
type Fire = () => Promise<number | Response>;

interface Run {
  label: string;
  seconds: number;
  samples: Sample[];
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

function summarize(r: Run) {
  const ok = r.samples.filter((s) => s.status >= 200 && s.status < 300);
  const lat = ok.map((s) => s.ms);
  return {
    label: r.label,
    sent: r.samples.length,
    ok: ok.length,
    shed: r.samples.filter((s) => s.status === 429).length,
    errors5xx: r.samples.filter((s) => s.status >= 500 || s.status === 0).length,
    other: r.samples.filter((s) => s.status >= 300 && s.status !== 429 && s.status < 500).length,
    throughput: ok.length / r.seconds,
    p50: pct(lat, 50),
    p95: pct(lat, 95),
    p99: pct(lat, 99),
  };
}
type Summary = ReturnType<typeof summarize>;

const TABLE_HEAD = '| run | sent | ok | 429 | 5xx | ok/s | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|---|---|---|';
const row = (s: Summary) =>
  `| ${s.label} | ${s.sent} | ${s.ok} | ${s.shed} | ${s.errors5xx} | ${s.throughput.toFixed(1)} | ${s.p50.toFixed(0)} | ${s.p95.toFixed(0)} | ${s.p99.toFixed(0)} |`;

async function timed(fire: Fire): Promise<Sample> {
  const t0 = performance.now();
  try {
    const out = await fire();
    if (typeof out === 'number') return { ms: performance.now() - t0, status: out };
    const retryAfter = Number(out.headers.get('retry-after') ?? NaN);
    return {
      ms: performance.now() - t0,
      status: out.status,
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined,
    };
  } catch {
    return { ms: performance.now() - t0, status: 0 };
  }
}

/** Open loop: start one request every 1/rate s for `seconds`, whatever the answers do. */
async function openLoopRun(label: string, rate: number, seconds: number, fire: Fire): Promise<Run> {
  const inflight: Promise<Sample>[] = [];
  const t0 = performance.now();
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    inflight.push(timed(fire));
  }
  const samples = await Promise.all(inflight);
  return { label, seconds: (performance.now() - t0) / 1000, samples };
}

async function openLoop(label: string, rate: number, seconds: number, fire: Fire): Promise<Summary> {
  return summarize(await openLoopRun(label, rate, seconds, fire));
}

/** Closed loop: `users` virtual users, each sending its next request when the previous one answered. */
async function closedLoop(label: string, users: number, seconds: number, fire: Fire): Promise<Summary> {
  const samples: Sample[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: users }, async () => {
      while (performance.now() < end) {
        const s = await timed(fire);
        samples.push(s);
        // As Retry-After says, but not past the step's end (a pause is not a request in flight).
        if (s.status === 429) await sleep(Math.min((s.retryAfter ?? 1) * 1000, end - performance.now()));
      }
    }),
  );
  return summarize({ label, seconds: (performance.now() - t0) / 1000, samples });
}

// ---- CPU by process ---------------------------------------------------------------------------------

/** utime + stime of a process in clock ticks (100 per second on Linux), 0 if it is gone. */
function cpuTicks(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Ticks per component: the stack's processes, every Postgres and Redis process, and this load generator. */
function cpuByComponent(): Map<string, number> {
  const out = new Map<string, number>();
  const add = (k: string, v: number) => out.set(k, (out.get(k) ?? 0) + v);
  for (const p of procs) if (p.child.pid) add(p.name, cpuTicks(p.child.pid));
  // The cluster's processes by component: api-1..3 as `api`, worker-trading-2 as `trading`, ...
  for (const h of Object.values(cluster?.handles ?? {})) {
    const pid = h.current()?.child.pid;
    const component = h.service
      .replace(/^api-\d+$/, 'api')
      .replace(/^worker-(trading|outbox)(-\d+)?$/, '$1')
      .replace(/^matching-.*$/, 'matching');
    if (pid) add(component, cpuTicks(pid));
  }
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm === 'postgres') add('postgres', cpuTicks(pid));
    else if (comm === 'redis-server') add('redis', cpuTicks(pid));
  }
  add('load generator', cpuTicks('self'));
  return out;
}

interface CpuRun {
  label: string;
  ok: number;
  /** CPU milliseconds per accepted order, by component. */
  perOrder: Map<string, number>;
}

/** Add to `into` the ticks each component spent between two readings. */
function addTicks(into: Map<string, number>, before: Map<string, number>, after: Map<string, number>): void {
  for (const [k, v] of after) into.set(k, (into.get(k) ?? 0) + v - (before.get(k) ?? 0));
}

function cpuRun(s: Summary, ticks: Map<string, number>): CpuRun {
  const perOrder = new Map<string, number>();
  for (const [k, v] of ticks) perOrder.set(k, (v * 10) / Math.max(1, s.ok));
  return { label: s.label, ok: s.ok, perOrder };
}

/** Run a load step and account the CPU every component spent on it, per accepted order. */
async function withCpu(run: () => Promise<Summary>, into: CpuRun[]): Promise<Summary> {
  const before = cpuByComponent();
  const s = await run();
  const ticks = new Map<string, number>();
  addTicks(ticks, before, cpuByComponent());
  into.push(cpuRun(s, ticks));
  return s;
}

/**
 * Open loops at one rate, interleaved in `rounds` segments (A B C, A B C, ...) that add up to `seconds`
 * each, so that a drift of the machine's speed during the run weighs on all of them alike. Samples and
 * CPU are pooled per loop.
 */
async function interleavedOpenLoops(
  rate: number,
  seconds: number,
  rounds: number,
  loops: { label: string; fire: Fire }[],
  into: CpuRun[],
): Promise<Summary[]> {
  const runs: Run[] = loops.map((l) => ({ label: l.label, seconds: 0, samples: [] }));
  const ticks = loops.map(() => new Map<string, number>());
  for (let r = 0; r < rounds; r++) {
    for (const [i, loop] of loops.entries()) {
      const before = cpuByComponent();
      const segment = await openLoopRun(loop.label, rate, seconds / rounds, loop.fire);
      addTicks(ticks[i]!, before, cpuByComponent());
      runs[i]!.seconds += segment.seconds;
      runs[i]!.samples.push(...segment.samples);
    }
  }
  return runs.map((run, i) => {
    const s = summarize(run);
    into.push(cpuRun(s, ticks[i]!));
    return s;
  });
}

// ---- the stack -------------------------------------------------------------------------------------

const procs: Managed[] = [];
let cluster: Cluster | undefined;
async function stopAll() {
  await Promise.allSettled(procs.reverse().map((p) => p.stop('SIGTERM', 10_000)));
  await cluster?.stop();
}

async function main() {
  const base = loadConfig(process.env);
  const sandbox = sandboxOptions(base);
  // The cluster shape builds its own tools (startCluster).
  const tools = CLUSTER ? undefined : await ensureTools(base.BROKERX_TOOLS_DIR, (l) => log(l));
  const dir = mkdtempSync(join(tmpdir(), 'brokerx-bench-'));
  const id = randomBytes(3).toString('hex');
  const ports: number[] = [];
  for (let i = 0; i < 9; i++) ports.push(await freePort());
  const [tPort, tHttp, tMetrics, smtp, mailHttp, apiPort, m1, m2, m3] = ports as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const dbUrl = new URL(base.DATABASE_URL);
  // The cluster's databases are prefixed: bench_<id>_brokerx, bench_<id>_brokerx_temporal, ...
  const clusterPrefix = `bench_${id}_`;
  dbUrl.pathname = CLUSTER ? `/${clusterPrefix}brokerx` : `/brokerx_bench_${id}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    SIGNING_KEY_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'warn',
    DATABASE_URL: dbUrl.toString(),
    REDIS_PREFIX: `brokerx:bench:${id}:`,
    TEMPORAL_ADDRESS: `127.0.0.1:${tPort}`,
    SMTP_URL: `smtp://127.0.0.1:${smtp}`,
    MAILPIT_URL: `http://127.0.0.1:${mailHttp}`,
    PORT: String(apiPort),
    PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
  };
  const admin = postgres(base.DATABASE_URL.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} });
  const database = connectDatabase(dbUrl.toString(), { max: 4, appName: 'bench' });
  const report: string[] = [];
  try {
    log(`starting a clean stack${CLUSTER ? ' (cluster shape)' : ''}`);
    let apiUrl = `http://127.0.0.1:${apiPort}`;
    let mailUrl = `http://127.0.0.1:${mailHttp}`;
    const node = (name: string, file: string, extra: Record<string, string>) => {
      const p = startProcess(name, process.execPath, [...NODE_ARGS, '--import', 'tsx', join(root, file)], {
        env: { ...env, ...extra },
        cwd: root,
        output: 'ignore',
      });
      procs.push(p);
      return p;
    };
    if (CLUSTER) {
      cluster = await startCluster({
        ports: 'free',
        prefix: clusterPrefix,
        databaseUrl: base.DATABASE_URL,
        redisUrl: base.REDIS_URL,
        toolsDir: base.BROKERX_TOOLS_DIR,
        output: 'ignore',
        log,
      });
      ({ api: apiUrl, mailpit: mailUrl } = cluster.urls);
      env.TEMPORAL_ADDRESS = cluster.urls.temporal;
    } else {
      procs.push(
        startProcess(
          'mailpit',
          tools!.mailpit,
          [
            '--smtp',
            `127.0.0.1:${smtp}`,
            '--listen',
            `127.0.0.1:${mailHttp}`,
            '--database',
            join(dir, 'mail.db'),
            '--smtp-auth-accept-any',
            '--smtp-auth-allow-insecure',
          ],
          { output: 'ignore' },
        ),
      );
      const [temporal] = await Promise.all([
        startDevServer({
          bin: tools!.temporal,
          dbFile: join(dir, 'temporal.db'),
          port: tPort,
          httpPort: tHttp,
          metricsPort: tMetrics,
          output: 'ignore',
        }),
        migrateDatabase(dbUrl.toString()),
        waitForPort(mailHttp, 'Mailpit'),
      ]);
      procs.push(temporal);
      node('trading', 'workers/trading/main.ts', { METRICS_PORT: String(m1), INSTANCE_ID: 'trading-1' });
      node('matching', 'workers/matching/main.ts', { METRICS_PORT: String(m2), INSTANCE_ID: 'matching-1' });
      node('outbox', 'workers/outbox/main.ts', { METRICS_PORT: String(m3), INSTANCE_ID: 'outbox-1' });
      const api = node('api', 'api/main.ts', { INSTANCE_ID: 'api-1' });
      await waitForPort(apiPort, 'api', 120_000, api);
      for (let i = 0; i < 120; i++) {
        if ((await fetch(`http://127.0.0.1:${apiPort}/ready`).catch(() => null))?.ok) break;
        await sleep(500);
      }

    }

    // Users: buyers and sellers onboarded through the public API; sellers get house inventory.
    const ep: Endpoints = { api: apiUrl, mailpit: mailUrl };
    log('onboarding users through the API');
    const buyers: Session[] = [];
    const sellers: Session[] = [];
    for (let i = 0; i < 4; i++) {
      const b = await session(ep, userEmail('bench-buyer', i), `bench-${id}-password`);
      for (let k = 0; k < 10; k++) await deposit(ep, b, '1000000.00');
      buyers.push(b);
      const s = await session(ep, userEmail('bench-seller', i), `bench-${id}-password`);
      await database.db.transaction((tx) =>
        postEntry(tx, {
          kind: 'house_allocation',
          reference: `bench:${s.accountId}`,
          postings: [
            { accountId: HOUSE_ACCOUNT_ID, asset: 'AAPL', bucket: 'available', amount: -20_000n },
            { accountId: s.accountId, asset: 'AAPL', bucket: 'available', amount: 20_000n },
          ],
        }),
      );
      sellers.push(s);
    }
    let n = 0;
    /** Answers per api instance (X-Instance), for the cluster shape's distribution. */
    const instances = new Map<string, number>();
    /** Half buys, half sells at one price: about half the orders fill against resting ones. */
    const placeOrder = async () => {
      const i = n++;
      const buy = i % 2 === 0;
      const user = (buy ? buyers : sellers)[(i >> 1) % 4]!;
      const res = await fetch(`${ep.api}/api/v1/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
        body: JSON.stringify({
          order: {
            symbol: 'AAPL',
            order_type: 'limit',
            direction: buy ? 'buy' : 'sell',
            quantity: 1,
            price: '165.00',
            time_in_force: 'GTC',
          },
        }),
      });
      await res.arrayBuffer();
      const instance = res.headers.get('x-instance') ?? '(none)';
      instances.set(instance, (instances.get(instance) ?? 0) + 1);
      return res;
    };

    // (a) Temporal baselines, with their own worker process (tuned like the trading worker).
    log('(a) Temporal baselines');
    const queue = `bench-noop-${id}`;
    const baseline = node('baseline', 'load/baselines/worker.ts', { BASELINE_QUEUE: queue });
    // The api's client: the SDK's native connection.
    const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS! });
    const client = new Client({ connection });
    await sleep(4000); // bundling
    // The same-shape no-op saga: the TradingSaga, started as the api starts it, on the trading worker with
    // empty steps. Alternately a maker (rests until a fill signal) and a taker (filled on arrival) whose ACK
    // triggers the fill signal to the oldest resting maker, as the relay does after a settlement.
    let sagas = 0;
    const resting: string[] = [];
    const noopSaga = async () => {
      const maker = sagas++ % 2 === 0;
      const orderId = `${maker ? 'maker-' : TAKER}${randomUUID()}`;
      const workflowId = `noop-${orderId}`;
      const order: OrderRequest = {
        orderId,
        accountId: 'bench-noop',
        clientOrderId: orderId,
        symbol: 'AAPL',
        side: maker ? 'sell' : 'buy',
        orderType: 'limit',
        timeInForce: 'GTC',
        quantity: '1',
        price: '16500',
      };
      const start = tradingSagaStart(workflowId, `${queue}-${TRADING_TASK_QUEUE}`, { order, matchingTaskQueue: `${queue}-matching` });
      await client.workflow.executeUpdateWithStart(placeOrderUpdate, { startWorkflowOperation: start });
      if (maker) resting.push(workflowId);
      else {
        const filled = resting.shift();
        if (filled) void fillMaker(filled).catch(() => undefined);
      }
      return 200;
    };
    const fillMaker = (workflowId: string) => {
      const orderId = workflowId.slice('noop-'.length);
      return client.workflow.getHandle(workflowId).signal(fillSignal, {
        fillId: `fill-${orderId}`,
        orderId,
        quantity: '1',
        price: '16500',
        filledQuantity: '1',
        status: 'filled',
        reservedAmount: '0',
      });
    };
    const noopActivity = async () => {
      await client.workflow.execute(NoopActivity, {
        workflowId: `noop-act-${randomUUID()}`,
        taskQueue: `${queue}-activity`,
      });
      return 200;
    };
    await closedLoop('warm-up', 8, 3, noopSaga);
    const baseActivity = QUICK
      ? undefined
      : await closedLoop('no-op activity workflow, 16 users', 16, STEP_SECONDS, noopActivity);
    const cpu: CpuRun[] = [];
    const baseSaga = await withCpu(() => closedLoop('no-op saga, 32 users', 32, STEP_SECONDS, noopSaga), cpu);

    // Every user watches its executions on /ws: fill-to-client latency is the frame's arrival minus the
    // report's timestamp (taken by the matching worker just before its settlement commit).
    // Fills of the current constant-rate step; `feedLatency` keeps those of the steps within capacity.
    let stepFeed: number[] = [];
    const feedLatency: number[] = [];
    let overloadedFeed: number[] = [];
    let recordFeed = false;
    const sockets = await Promise.all(
      [...buyers, ...sellers].map(
        (u) =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(`${apiUrl.replace(/^http/, 'ws')}/ws`, {
              headers: { authorization: `Bearer ${u.token}` },
            });
            ws.on('open', () => {
              ws.send(JSON.stringify({ op: 'subscribe', channel: 'executions' }));
              resolve(ws);
            });
            ws.on('message', (data: Buffer) => {
              const frame = JSON.parse(data.toString()) as { type?: string; exec_type?: string; ts?: string };
              if (
                recordFeed &&
                frame.type === 'execution' &&
                (frame.exec_type === 'fill' || frame.exec_type === 'partial_fill') &&
                frame.ts
              )
                stepFeed.push(Date.now() - Date.parse(frame.ts));
            });
            ws.on('error', reject);
          }),
      ),
    );

    // (b) the real order flow through the API.
    log('(b) real order flow');
    await closedLoop('warm-up', 8, 3, placeOrder);
    const real = await withCpu(
      () => closedLoop('orders through the API, 32 users', 32, STEP_SECONDS, placeOrder),
      cpu,
    );
    // The ACK at 10/s: the no-op saga and the real flow take turns.
    recordFeed = QUICK; // the quick run reports the feed at 10/s; the full run at its constant-rate steps
    const [baseSaga10, real10] = (await interleavedOpenLoops(
      10,
      ACK_STEP_SECONDS,
      ACK_ROUNDS,
      [
        { label: 'no-op saga at 10/s', fire: noopSaga },
        { label: 'orders at 10/s', fire: placeOrder },
      ],
      cpu,
    )) as [Summary, Summary];
    recordFeed = false;
    // Close the baseline sagas so they do not compete for the worker cache, then stop the worker.
    for (const workflowId of resting.splice(0)) await fillMaker(workflowId).catch(() => undefined);
    await baseline.stop('SIGTERM', 10_000);
    procs.splice(procs.indexOf(baseline), 1);
    if (QUICK) {
      const rows = [baseSaga, baseSaga10, real, real10].map(row);
      console.log([TABLE_HEAD, ...rows, '', ...cpuTable(cpu)].join('\n'));
      console.log(
        `fill-to-client at 10/s: p50 ${pct(stepFeed, 50)} ms, p99 ${pct(stepFeed, 99)} ms over ${stepFeed.length} fills`,
      );
      console.log(
        `real/no-op saga ${((100 * real.throughput) / baseSaga.throughput).toFixed(0)}%, ACK p95 ${(real10.p95 / baseSaga10.p95).toFixed(2)}x`,
      );
      for (const ws of sockets) ws.close();
      await connection.close();
      return;
    }
    const steps: Summary[] = [];
    recordFeed = true;
    for (const rate of [10, 20, 30, 40, 50, 60, 70, 80]) {
      stepFeed = [];
      const s = await openLoop(`orders at ${rate}/s`, rate, STEP_SECONDS, placeOrder);
      steps.push(s);
      log(`  ${rate}/s: ok ${s.ok}/${s.sent}, p95 ${s.p95.toFixed(0)} ms`);
      if (s.errors5xx + s.other + s.shed > 0 || s.p95 > 2 * real10.p95 || s.throughput < 0.9 * rate) {
        overloadedFeed = stepFeed; // the step past capacity: reported, not judged
        break;
      }
      feedLatency.push(...stepFeed);
    }

    recordFeed = false;
    await sleep(1000);
    for (const ws of sockets) ws.close();

    // (c) the stress ramp.
    log('(c) stress ramp');
    const ramp: Summary[] = [];
    for (const users of [100, 300, 500])
      ramp.push(
        await withCpu(() => closedLoop(`stress ${users} users`, users, STEP_SECONDS, placeOrder), cpu),
      );

    // Afterwards: every accepted order terminal or resting within 60 s, and the ledger balanced.
    let pending = -1;
    const t0 = Date.now();
    while (Date.now() - t0 < 60_000) {
      const [row] = await database.db.execute<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM orders WHERE status = 'pending'`,
      );
      pending = row!.n;
      if (pending === 0) break;
      await sleep(1000);
    }
    const settledAfter = (Date.now() - t0) / 1000;
    const imbalances = await ledgerImbalances(database.db);
    const [counts] = await database.db.execute<{
      total: number;
      resting: number;
      terminal: number;
      trades: number;
    }>(sql`
      SELECT count(*)::int AS total,
             count(*) FILTER (WHERE status IN ('working', 'partially_filled'))::int AS resting,
             count(*) FILTER (WHERE status IN ('filled', 'cancelled', 'expired', 'rejected'))::int AS terminal,
             (SELECT count(*)::int FROM trades) AS trades
      FROM orders`);
    await connection.close();

    // ---- report -------------------------------------------------------------------------------------
    const plateau = Math.max(...ramp.map((r) => r.throughput), real.throughput);
    const at500 = ramp[ramp.length - 1]!;
    const sustained = Math.max(
      real.throughput,
      ...steps.filter((s) => s.errors5xx + s.other + s.shed === 0).map((s) => s.throughput),
    );
    const checks: [string, boolean, string][] = [
      ['sustained ACKed orders >= 37/s with 0% errors', sustained >= 37, `${sustained.toFixed(1)}/s`],
      [
        'real saga throughput >= 80% of the no-op saga',
        real.throughput >= 0.8 * baseSaga.throughput,
        `${((100 * real.throughput) / baseSaga.throughput).toFixed(0)}%`,
      ],
      [
        'ACK p95 at 10/s <= 1.5x the no-op saga',
        real10.p95 <= 1.5 * baseSaga10.p95,
        `${(real10.p95 / baseSaga10.p95).toFixed(2)}x`,
      ],
      [
        'fill-to-client latency p99 < 100 ms (constant-rate steps within capacity)',
        pct(feedLatency, 99) < 100,
        `p50 ${pct(feedLatency, 50)} ms, p99 ${pct(feedLatency, 99)} ms over ${feedLatency.length} fills` +
          (overloadedFeed.length
            ? ` (the step past capacity: p99 ${pct(overloadedFeed, 99)} ms over ${overloadedFeed.length})`
            : ''),
      ],
      ['stress: no 5xx', ramp.every((r) => r.errors5xx === 0), ramp.map((r) => r.errors5xx).join(' / ')],
      [
        'stress: throughput at 500 users >= 90% of plateau',
        at500.throughput >= 0.9 * plateau,
        `${((100 * at500.throughput) / plateau).toFixed(0)}%`,
      ],
      [
        'every accepted order terminal or resting within 60 s',
        pending === 0,
        `${pending} pending after ${settledAfter.toFixed(0)} s`,
      ],
      ['ledger balanced', imbalances.length === 0, `${imbalances.length} imbalances`],
    ];
    const answered = [...instances.values()].reduce((a, b) => a + b, 0);
    const shares = [...instances.entries()].sort().map(([k, v]) => [k, (100 * v) / answered] as const);
    if (CLUSTER)
      checks.push([
        'each api instance answers 25 to 40 % of the orders',
        shares.length === 3 && shares.every(([, p]) => p >= 25 && p <= 40),
        shares.map(([k, p]) => `${k} ${p.toFixed(1)} %`).join(', '),
      ]);
    const pkg = (name: string) =>
      (
        JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
    report.push(
      CLUSTER ? `# End-to-end benchmark, production topology (npm run start:cluster)` : `# End-to-end benchmark`,
      ``,
      `- Command: \`${CLUSTER ? 'BENCH_SHAPE=cluster ' : ''}npm run bench\` (BENCH_STEP_SECONDS=${STEP_SECONDS}; the two 10/s ACK runs ${ACK_STEP_SECONDS} s each, interleaved in ${ACK_ROUNDS} rounds); everything on loopback, ${CLUSTER ? 'the processes of docker-compose.yml (docs/runbooks/cluster.md)' : 'one process per component'}`,
      `- Machine: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}`,
      `- Versions: ${CLUSTER ? "Temporal server 1.29.1 on PostgreSQL (postgres12 plugin, SQL visibility, the history shards of docker-compose.yml)" : 'Temporal CLI dev server 1.5.1 (SQLite, WAL, synchronous=normal)'}; TypeScript SDK ${pkg('@temporalio/worker')}; PostgreSQL and Redis local`,
      `- Dynamic config: ${dynamicConfigValues()
        .map((v) => `\`${v}\``)
        .join(', ')}`,
      `- Trading worker (the no-op saga runs on the same worker factory with empty steps): ${Object.entries(TRADING_WORKER_TUNING)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}, workflow sandbox with SANDBOX_WATCHDOG=${sandbox.watchdog ? 'on' : 'off'} and SANDBOX_STACK_TRACES=${sandbox.stackTraces ? 'on' : 'off'} (ADR 0013, ADR 0016); validate, reserve and persist as local activities in the first workflow task; api admission limit MAX_INFLIGHT_ORDERS=${base.MAX_INFLIGHT_ORDERS}`,
      `- Order mix: limit orders of 1 AAPL at 165.00 from 4 buyers and 4 sellers alternately (about half fill on arrival)`,
      `- Date: ${new Date().toISOString()}`,
      ``,
      `## Results`,
      ``,
      TABLE_HEAD,
      ...[baseActivity!, baseSaga, baseSaga10, real, real10].map(row),
      ``,
      `### Constant arrival rates (stepped until errors or the p95 doubles)`,
      ``,
      TABLE_HEAD,
      ...steps.map(row),
      ``,
      `### Stress ramp (closed loop; after a 429 a user waits as long as its Retry-After says)`,
      ``,
      TABLE_HEAD,
      ...ramp.map(row),
      ``,
      ...(CLUSTER
        ? [
            `### Requests per api instance (X-Instance of every order, through nginx least_conn)`,
            ``,
            `| instance | orders | share |`,
            `|---|---|---|`,
            ...shares.map(([k, p]) => `| ${k} | ${instances.get(k)} | ${p.toFixed(1)} % |`),
            ``,
          ]
        : []),
      `Orders after the run: ${counts!.total} total, ${counts!.resting} resting, ${counts!.terminal} terminal, ${counts!.trades} trades.`,
      ``,
      `### CPU per accepted order (ms, utime+stime from /proc over the step; the baselines' worker is \`baseline\`)`,
      ``,
      ...cpuTable(cpu),
      ``,
      `## Targets`,
      ``,
      `| target | met | measured |`,
      `|---|---|---|`,
      ...checks.map(([what, ok, v]) => `| ${what} | ${ok ? 'yes' : 'no'} | ${v} |`),
      ``,
    );
    const md = report.join('\n');
    writeFileSync(join(root, CLUSTER ? 'docs/benchmarks/e2e-cluster.md' : 'docs/benchmarks/e2e.md'), md);
    console.log(md);
  } finally {
    await database.close();
    await stopAll();
    const dbs = CLUSTER
      ? (await admin<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${`${clusterPrefix}%`}`).map((r) => r.datname)
      : [dbUrl.pathname.slice(1)];
    for (const db of dbs) await admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`).catch(() => undefined);
    await admin.end({ timeout: 5 });
    rmSync(dir, { recursive: true, force: true });
  }
}

function cpuTable(runs: CpuRun[]): string[] {
  const cols = [
    'temporal',
    'baseline',
    'trading',
    'matching',
    'outbox',
    'api',
    'postgres',
    'redis',
    'mailpit',
    'load generator',
  ];
  // The cluster's other processes (nginx, the Web UI, Prometheus) get columns of their own.
  cols.push(...new Set(runs.flatMap((r) => [...r.perOrder.keys()]).filter((k) => !cols.includes(k))));
  const rows = runs.map((r) => {
    const v = cols.map((c) => r.perOrder.get(c) ?? 0);
    const total = [...r.perOrder.values()].reduce((a, b) => a + b, 0);
    return `| ${r.label} | ${v.map((x) => x.toFixed(1)).join(' | ')} | ${total.toFixed(1)} |`;
  });
  return [`| run | ${cols.join(' | ')} | total |`, `|---|${cols.map(() => '---|').join('')}---|`, ...rows];
}

await main();
