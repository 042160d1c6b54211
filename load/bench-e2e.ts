/**
 * `npm run bench`: the end-to-end benchmark. Starts a clean stack of its own (Temporal dev server with
 * the committed tuning, Mailpit, a fresh database, the trading, matching and outbox workers and the api
 * as processes), then in the same run measures:
 *   (a) Temporal baselines: the same-shape no-op saga (the TradingSaga itself on the trading worker,
 *       started as the api starts it, with empty steps: load/baselines/) and a single no-op activity
 *       workflow;
 *   (b) the real order flow through the api: closed-loop capacity, taking turns with the no-op saga's;
 *       ACK latency at 10 orders/s, taking turns with the no-op saga at the same rate, so that both
 *       see the same machine; and
 *       constant arrival rates stepped up until errors appear or the ACK p95 doubles;
 *   (c) the stress ramp 100 -> 300 -> 500 virtual users (admission control sheds with 429);
 * then checks that every accepted order is terminal or resting and that the ledger is balanced, and
 * writes docs/benchmarks/e2e.md. Load is generated with node:http over a keep-alive agent (load/lib/http.ts) by open- and
 * closed-loop drivers that time every request (load/lib/drivers.ts).
 *
 * BENCH_SHAPE=cluster runs all of that on the production topology (load/lib/cluster-stack.ts) and, in
 * the same invocation and before it, the development shape's key runs (the no-op saga and the real flow
 * at saturation and at 10/s), so that docs/benchmarks/e2e-cluster.md sets the two shapes side by side,
 * measured minutes apart on the same machine.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { sql } from 'drizzle-orm';
import WebSocket from 'ws';
import { connectDatabase, type Db } from '../db/client.js';
import { HOUSE_ACCOUNT_ID } from '../db/accounts.js';
import { ledgerImbalances, postEntry } from '../db/queries/ledger.js';
import { loadConfig, type Config } from '../lib/config.js';
import { postgresConnections } from '../devstack/cluster.js';
import { loadCompose } from '../devstack/compose.js';
import { dynamicConfigValues } from '../devstack/dev-server.js';
import { sandboxOptions } from '../workers/sandbox-worker.js';
import { TRADING_WORKER_TUNING } from '../workers/trading/worker.js';
import { baselines, type Baselines } from './baselines/client.js';
import { deposit, type Endpoints, type Session } from './client.js';
import { userEmail } from './k6/lib/profiles.js';
import { CpuAccount, cpuByComponent, cpuTable } from './lib/cpu.js';
import { budgetSection, cpuBudget, TEMPORAL_POSTGRES } from './lib/cpu-budget.js';
import { ackPhaseTable, phasesOf, type AckTrace, type Phases } from './lib/ack-phases.js';
import { ioAccount, ioTable, postgresTicksByClient, type IoAccount } from './lib/io-counts.js';
import { serverAccount, serverTable, type ServerAccount } from './lib/temporal-server.js';
import {
  addCounts,
  closedLoop,
  fiveXx,
  openLoop,
  shares,
  startClosedLoop,
  summarize,
  summaryTable,
  type ClosedLoop,
  type Fire,
  type Summary,
} from './lib/drivers.js';
import { postJson, type Answer } from './lib/http.js';
import { nearestRankOf } from './lib/percentiles.js';
import {
  interleaved,
  interleavedOpenLoops,
  roundRatios,
  type Interleaved,
  type Meter,
  type Segmented,
} from './lib/segments.js';
import {
  fillToClientTarget,
  machineSummary,
  markdownTable,
  targetsTable,
  writeBenchmarkReport,
  type Target,
} from './lib/report.js';
import { startClusterStack } from './lib/cluster-stack.js';
import { startStack, type Stack } from './lib/stack.js';
import { session } from './scenarios/users.js';
import { orderWorkflowId } from '../temporal/contracts.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 15);
/** The ACK-latency comparisons at 10/s run twice as long (a p95 ratio needs the samples), interleaved. */
const ACK_STEP_SECONDS = 2 * STEP_SECONDS;
const ACK_ROUNDS = 3;
/** The capacity runs of the no-op saga and the real flow take turns this many times, STEP_SECONDS each. */
const CAPACITY_ROUNDS = 3;
/**
 * Temporal's server does part of a run's work after it: every workflow task and every submit leaves
 * timeout timers (the workflow task's sticky schedule-to-start and start-to-close, the submit's
 * start-to-close: 10 s each) that fire later and find the task done. A capacity run is measured after
 * its flow has run this long at the same load: the 10-second timers that fire in its window are then
 * its own flow's, as in a steady state, and none of the run before it. The submit also leaves a timer
 * of 2 minutes (its schedule-to-start, which the server sets to the schedule-to-close when the saga
 * gives none), which fires at the rate of the load two minutes before: in the third round of a
 * capacity run that of its own flow's first; after the capacity runs, theirs, for two minutes (more
 * than twice the 10/s runs' load). So the 10/s runs come first.
 */
const STEADY_MS = 12_000;
/** BENCH_QUICK=1: only the key runs (saga baseline, the real flow's capacity and 10/s ACK), printed, not written. */
const QUICK = process.env.BENCH_QUICK === '1';
type Shape = 'development' | 'cluster';
/**
 * BENCH_SHAPE=cluster: the production topology (Temporal's server on Postgres, nginx over three api
 * instances, two of each worker), with as many baseline workers as trading workers, beside the
 * development shape's key runs; report e2e-cluster.md.
 */
const SHAPE: Shape = process.env.BENCH_SHAPE === 'cluster' ? 'cluster' : 'development';
const BASELINE_WORKERS: Record<Shape, number> = { development: 1, cluster: 2 };
/** Extra node flags for the stack's processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a run. */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** The columns of the CPU table, in the order of an order's path. */
const cpuComponents = (shape: Shape) => [
  'temporal',
  ...(shape === 'cluster' ? [TEMPORAL_POSTGRES] : []),
  'baseline',
  'trading',
  'matching',
  'outbox',
  'api',
  'postgres',
  'redis',
  'mailpit',
  ...(shape === 'cluster' ? ['nginx'] : []),
  'load generator',
];
const log = (m: string) => console.log(`[bench] ${m}`);
const pct = (xs: number[], p: number) => nearestRankOf(xs, p / 100);

/** The machine's 1-minute load average when the run started: other work on the cores shows here. */
const LOAD_AT_START = loadavg()[0]!;

async function main() {
  const base = loadConfig(process.env);
  if (SHAPE === 'development') {
    const dev = await runShape(base, 'development', !QUICK);
    if (QUICK) return printQuick([dev]);
    const md = renderReport(base, dev);
    writeBenchmarkReport('e2e.md', md);
    console.log(md);
    return;
  }
  // The development shape's key runs first (a few minutes), then the cluster: the same machine, minutes apart.
  const dev = await runShape(base, 'development', false);
  const cluster = await runShape(base, 'cluster', !QUICK);
  if (QUICK) return printQuick([dev, cluster]);
  const connections = await postgresConnections(new URL(base.DATABASE_URL), loadCompose());
  const md = renderReport(base, cluster, dev, connections);
  writeBenchmarkReport('e2e-cluster.md', md);
  console.log(md);
}

/** What one shape measured; the full run adds the rate steps, the stress ramp and the check afterwards. */
interface ShapeResults {
  shape: Shape;
  baseline: BaselineResults;
  real: RealFlowResults;
  cpu: CpuAccount;
  /** IO_COUNTS=on: the application processes' I/O per accepted order of the real flow's capacity run. */
  io?: IoAccount;
  /** Temporal's server work per accepted order of both capacity runs. */
  server?: ServerAccount;
  /** Fill-to-client latencies at 10/s (key runs only; the full run reports its constant-rate steps). */
  feedAt10: number[];
  /** The api's admission limit (MAX_INFLIGHT_ORDERS, per instance) and its number of instances. */
  maxInflight: number;
  apiInstances: number;
  full?: { steps: RateSteps; ramp: Summary[]; after: AfterRun };
}

/** Start a clean stack of the shape, measure, stop it. `full`: the whole benchmark, else the key runs. */
async function runShape(base: Config, shape: Shape, full: boolean): Promise<ShapeResults> {
  log(`the ${shape} shape${full ? '' : ': key runs'}`);
  const stack = await (shape === 'cluster' ? startClusterStack : startStack)({
    id: randomBytes(3).toString('hex'),
    env: process.env,
    databaseUrl: base.DATABASE_URL,
    toolsDir: base.BROKERX_TOOLS_DIR,
    nodeArgs: NODE_ARGS,
    log,
  });
  const database = connectDatabase(stack.databaseUrl, { max: 4, appName: 'bench' });
  try {
    const api = { maxInflight: loadConfig(stack.env).MAX_INFLIGHT_ORDERS, apiInstances: stack.apiInstances };
    const users = await onboardUsers(stack, database.db);
    const placeOrder = orderPlacer(stack.endpoints, users);
    const cpu = new CpuAccount(() =>
      cpuByComponent(stack.processes(), (db) =>
        db && stack.temporalDatabases.includes(db) ? TEMPORAL_POSTGRES : 'postgres',
      ),
    );
    const io =
      base.IO_COUNTS === 'on'
        ? ioAccount(
            () => stack.metricsEndpoints,
            () =>
              postgresTicksByClient(
                () => database.sql<{ pid: number; application_name: string | null }[]>`
                  SELECT pid, application_name FROM pg_stat_activity WHERE backend_type = 'client backend'`,
                loadConfig(stack.env).DATABASE_APPLICATION_PREFIX,
                stack.metricsEndpoints.map((e) => e.name),
              ),
          )
        : undefined;
    const server = stack.temporalMetrics ? serverAccount(stack.temporalMetrics) : undefined;
    const meters: Meters = { cpu, io, server };
    const temporal = await startBaselines(stack, BASELINE_WORKERS[shape]);
    const fills = await FillWatcher.open(stack.endpoints, [...users.buyers, ...users.sellers]);
    const { baseline, real } = await measureFlows(
      placeOrder,
      temporal.baselines,
      temporal.client,
      meters,
      fills,
      full,
    );
    await temporal.stop();
    checkRan(stack, real.capacity);
    const feedAt10 = fills.newStep();
    if (!full) {
      fills.close();
      return { shape, baseline, real, cpu, io, server, feedAt10, ...api };
    }
    const steps = await stepRates(placeOrder, real.at10.p95, fills);
    await sleep(1000);
    fills.close();
    const ramp = await stressRamp(placeOrder, cpu, server);
    checkRan(stack, real.capacity);
    const after = await checkAfterRun(database.db);
    return { shape, baseline, real, cpu, io, server, feedAt10, ...api, full: { steps, ramp, after } };
  } finally {
    await database.close();
    await stack.stop();
  }
}

/**
 * No report from a stack that lost a process or ACKed no order at saturation: its figures would measure
 * the failure (the api answering 504 for a dead trading worker), not the flow.
 */
function checkRan(stack: Stack, capacity: Summary): void {
  const dead = stack.dead();
  if (dead.length === 0 && capacity.ok > 0) return;
  throw new Error(
    [
      `the ${stack.shape} shape's run is void: ${capacity.ok} of ${capacity.sent} orders ACKed at saturation`,
      ...dead,
    ].join('\n'),
  );
}

// ---- the order flow ---------------------------------------------------------------------------------

interface Users {
  buyers: Session[];
  sellers: Session[];
}

/** Buyers and sellers onboarded through the public API; buyers deposit cash, sellers get house inventory. */
async function onboardUsers(stack: Stack, db: Db): Promise<Users> {
  log('onboarding users through the API');
  const ep = stack.endpoints;
  const users: Users = { buyers: [], sellers: [] };
  for (let i = 0; i < 4; i++) {
    const b = await session(ep, userEmail('bench-buyer', i), `bench-${stack.id}-password`);
    for (let k = 0; k < 10; k++) await deposit(ep, b, '1000000.00');
    users.buyers.push(b);
    const s = await session(ep, userEmail('bench-seller', i), `bench-${stack.id}-password`);
    await db.transaction((tx) =>
      postEntry(tx, {
        kind: 'house_allocation',
        reference: `bench:${s.accountId}`,
        postings: [
          { accountId: HOUSE_ACCOUNT_ID, asset: 'AAPL', bucket: 'available', amount: -20_000n },
          { accountId: s.accountId, asset: 'AAPL', bucket: 'available', amount: 20_000n },
        ],
      }),
    );
    users.sellers.push(s);
  }
  return users;
}

/** A request that can tell the workflow id of the saga it started (`seen`), for the ACK's phases. */
type Traceable = (seen?: (workflowId: string) => void) => Promise<number | Answer>;

/**
 * Half buys, half sells at one price: about half the orders fill against resting ones. Each order takes
 * the side that has fewer orders placed (accepted or still in flight), so that a shed request (429) does
 * not tilt the book: under shedding, sides drawn by attempt would leave a standing queue of resting orders
 * of one side, each of whose fills then comes after its saga went idle (one workflow task more), and the
 * stress steps would measure that book rather than the crowd.
 */
function orderPlacer(ep: Endpoints, users: Users): Traceable {
  const placed = { buy: 0, sell: 0 };
  return async (seen) => {
    const buy = placed.buy <= placed.sell;
    const side = buy ? 'buy' : 'sell';
    const user = (buy ? users.buyers : users.sellers)[placed[side]++ % 4]!;
    // A request that was not placed (shed, refused or failed) gives its side back.
    let res: Answer | undefined;
    try {
      res = await postJson(
        `${ep.api}/api/v1/orders`,
        {
          order: {
            symbol: 'AAPL',
            order_type: 'limit',
            direction: side,
            quantity: 1,
            price: '165.00',
            time_in_force: 'GTC',
          },
        },
        { authorization: `Bearer ${user.token}` },
      );
    } finally {
      if (!isOk(res)) placed[side]--;
    }
    if (seen && isOk(res)) {
      const order = JSON.parse(res.body) as { account_id: string; client_order_id: string };
      seen(orderWorkflowId(order.account_id, order.client_order_id));
    }
    return res;
  };
}

const isOk = (res: Answer | undefined): res is Answer => !!res && res.status >= 200 && res.status < 300;

/** `fire`, recording each answered request's time and saga into `into`. */
const traced =
  (into: AckTrace[], fire: Traceable): Fire =>
  async () => {
    const t0 = performance.now();
    let workflowId: string | undefined;
    const answer = await fire((id) => (workflowId = id));
    if (workflowId) into.push({ workflowId, ms: performance.now() - t0 });
    return answer;
  };

/** The phases of the traced ACKs, from their sagas' histories (a few at a time). */
async function phasesOfTraces(client: Client, traces: readonly AckTrace[]): Promise<Phases[]> {
  const phases: Phases[] = [];
  for (let i = 0; i < traces.length; i += 8) {
    const batch = traces.slice(i, i + 8);
    const histories = await Promise.all(
      batch.map((t) => client.workflow.getHandle(t.workflowId).fetchHistory()),
    );
    batch.forEach((t, k) => {
      const p = phasesOf(t, histories[k]!.events ?? []);
      if (p) phases.push(p);
    });
  }
  return phases;
}

/**
 * Every user watches its executions on /ws: fill-to-client latency is the frame's arrival minus the
 * report's timestamp (taken by the matching worker just before its settlement commit). Fills are
 * recorded into `step` while `recording` is on.
 */
class FillWatcher {
  recording = false;
  step: number[] = [];

  private constructor(private readonly sockets: WebSocket[] = []) {}

  static async open(ep: Endpoints, users: Session[]): Promise<FillWatcher> {
    const watcher = new FillWatcher();
    const url = `${ep.api.replace(/^http/, 'ws')}/ws`;
    watcher.sockets.push(...(await Promise.all(users.map((u) => watcher.connect(url, u)))));
    return watcher;
  }

  /** Start a new step's samples; answers the last step's. */
  newStep(): number[] {
    const last = this.step;
    this.step = [];
    return last;
  }

  close(): void {
    for (const ws of this.sockets) ws.close();
  }

  private connect(url: string, user: Session): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${user.token}` } });
      ws.on('open', () => {
        ws.send(JSON.stringify({ op: 'subscribe', channel: 'executions' }));
        resolve(ws);
      });
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as { type?: string; exec_type?: string; ts?: string };
        if (
          this.recording &&
          frame.type === 'execution' &&
          (frame.exec_type === 'fill' || frame.exec_type === 'partial_fill') &&
          frame.ts
        )
          this.step.push(Date.now() - Date.parse(frame.ts));
      });
      ws.on('error', reject);
    });
  }
}

// ---- the steps --------------------------------------------------------------------------------------

/** The baseline worker (tuned like the trading worker) and a client that drives it, as the api's is. */
async function startBaselines(
  stack: Stack,
  count: number,
): Promise<{ baselines: Baselines; client: Client; stop(): Promise<void> }> {
  log('(a) Temporal baselines');
  const queue = `bench-noop-${stack.id}`;
  const workers = Array.from({ length: count }, () =>
    stack.node('baseline', 'load/baselines/worker.ts', { BASELINE_QUEUE: queue }),
  );
  const connection = await NativeConnection.connect({ address: stack.env.TEMPORAL_ADDRESS! });
  const client = new Client({ connection });
  const drivers = baselines(client, queue);
  await sleep(4000); // bundling
  return {
    baselines: drivers,
    client,
    async stop() {
      // Close the baseline sagas so they do not compete for the worker cache, then stop the worker.
      await drivers.closeResting();
      for (const w of workers) await stack.stopProcess(w);
      await connection.close();
    },
  };
}

interface BaselineResults {
  /** Closed-loop capacity of the no-op activity workflow (not in the quick run). */
  activity?: Summary;
  /** Closed-loop capacity of the no-op saga. */
  saga: Interleaved;
}

/** What a capacity run is measured with: CPU always, the I/O counts and Temporal's server when on. */
interface Meters {
  cpu: CpuAccount;
  io?: IoAccount;
  server?: ServerAccount;
}

interface RealFlowResults {
  /** Closed-loop capacity of the real flow. */
  capacity: Interleaved;
  /** The no-op saga and the real flow at 10/s, taking turns. */
  saga10: Interleaved;
  at10: Interleaved;
  /** The phases of the 10/s runs' ACKs (load/lib/ack-phases.ts). */
  phases10: { noop: Phases[]; real: Phases[] };
}

/**
 * The baselines and the real flow side by side: both at 10/s taking turns (ACK_ROUNDS), then the no-op
 * activity workflow (full run), then the capacity of the no-op saga and of the real flow taking turns
 * (CAPACITY_ROUNDS).
 */
async function measureFlows(
  placeOrder: Traceable,
  b: Baselines,
  client: Client,
  { cpu, io, server }: Meters,
  fills: FillWatcher,
  full: boolean,
): Promise<{ baseline: BaselineResults; real: RealFlowResults }> {
  // The 10/s runs first, on the fresh stack: after the capacity runs, Temporal's server spends minutes
  // on the timers they left (STEADY_MS), which would be measured as the 10/s runs' latency. Each flow is
  // warmed at the same rate first, so that its first segment measures no cold start.
  await openLoop('warm-up', 10, 5, b.noopSaga);
  await openLoop('warm-up', 10, 5, placeOrder);
  // The key runs report the feed at 10/s; the full run at its constant-rate steps.
  fills.newStep();
  fills.recording = !full;
  const traces = { noop: [] as AckTrace[], real: [] as AckTrace[] };
  const [saga10, at10] = (await interleavedOpenLoops(
    10,
    ACK_STEP_SECONDS,
    ACK_ROUNDS,
    [
      { label: 'no-op saga at 10/s', fire: traced(traces.noop, b.noopSaga) },
      { label: 'orders at 10/s', fire: traced(traces.real, placeOrder) },
    ],
    [cpu],
  )) as [Interleaved, Interleaved];
  fills.recording = false;
  const activity = full
    ? await closedLoop('no-op activity workflow, 16 users', 16, STEP_SECONDS, b.noopActivity)
    : undefined;
  const meters = (...m: (Meter | undefined)[]) => m.filter((x): x is Meter => x !== undefined);
  // Each segment of a capacity run is measured in its own flow's steady state: its users run STEADY_MS
  // before the window and on through it, and stop after it.
  const capacityRun = (label: string, fire: Fire, measuredBy: Meter[]): Segmented => {
    let loop: ClosedLoop | undefined;
    return {
      label,
      prepare: async () => {
        loop = startClosedLoop(32, fire);
        await sleep(STEADY_MS);
      },
      segment: () => loop!.window(label, STEP_SECONDS),
      finish: () => loop!.stop(),
      meters: measuredBy,
    };
  };
  log('(a, b) the no-op saga and the real order flow at saturation, taking turns');
  const [saga, capacity] = (await interleaved(CAPACITY_ROUNDS, [
    capacityRun('no-op saga, 32 users', b.noopSaga, meters(cpu, server)),
    capacityRun('orders through the API, 32 users', placeOrder, meters(cpu, server, io)),
  ])) as [Interleaved, Interleaved];
  const phases10 = {
    noop: await phasesOfTraces(client, traces.noop),
    real: await phasesOfTraces(client, traces.real),
  };
  return { baseline: { activity, saga }, real: { capacity, saga10, at10, phases10 } };
}

/** IO_COUNTS=on: what each application process sent per accepted order (none otherwise). */
function ioSection(r: ShapeResults): string[] {
  if (!r.io?.runs.length) return [];
  return [
    '',
    `### I/O per accepted order (IO_COUNTS=on: each process counts its own Postgres statements, Temporal client calls, Redis commands and publishes, and mails; beside them the CPU of the Postgres backends serving its connections, told apart by application_name; lib/io-counts.ts)`,
    '',
    ...ioTable(r.io.runs),
  ];
}

/** CPU ms per accepted request of one run, by component. */
const perRequestOf = (r: ShapeResults, run: Summary): Map<string, number> =>
  r.cpu.runs.find((c) => c.label === run.label)?.perRequest ?? new Map<string, number>();

/**
 * The issue's "before" run (2026-11-30, an AMD EPYC of this machine kind; docs/benchmarks/README.md, the
 * table of full runs): the application's CPU per order was 0.63 of the no-op saga's.
 */
const BEFORE = { share: 0.63, run: '2026-11-30, an AMD EPYC with 2 cores' };
/** Real / no-op saga at saturation, pooled and round by round: `76% (round by round: 70%, 83%, 77%)`. */
const saturationRatio = ({ real, baseline }: Pick<ShapeResults, 'real' | 'baseline'>) =>
  `${((100 * real.capacity.throughput) / baseline.saga.throughput).toFixed(0)}% (round by round: ${roundRatios(real.capacity, baseline.saga)})`;
/** The throughput target: the real flow at this share of the no-op saga's. */
const TARGET_SHARE = 0.8;

const budgetOf = (r: ShapeResults) =>
  cpuBudget(perRequestOf(r, r.real.capacity), perRequestOf(r, r.baseline.saga), TARGET_SHARE);

/** Where the real flow's CPU per order stands against what the throughput target allows it. */
function budgetLines(r: ShapeResults): string[] {
  return [
    '',
    `### The CPU budget of ${100 * TARGET_SHARE}% (the two capacity runs)`,
    '',
    ...budgetSection(budgetOf(r), TARGET_SHARE, r.shape === 'development' ? BEFORE : undefined),
    '',
    'The cuts tried, adopted or not, with their measured effect, and those left: docs/benchmarks/README.md.',
  ];
}

/** Where the ACK time of the 10/s runs goes, phase by phase, for the no-op saga and the real flow. */
function ackPhaseLines(r: ShapeResults): string[] {
  const { noop, real } = r.real.phases10;
  return [
    '',
    `### The ACK at 10/s, phase by phase (ms; each ACK of the two 10/s runs split by its saga's history event times: ${noop.length} no-op sagas, ${real.length} orders; load/lib/ack-phases.ts)`,
    '',
    "The no-op saga is started by the load generator's own Temporal client, the real flow through the api: \"outside\" is the client's gRPC call for the one and the HTTP request, the api's work and its gRPC call for the other.",
    '',
    ...ackPhaseTable(noop, real),
  ];
}

/** Temporal's server work per accepted order of the two capacity runs. */
function serverSection(r: ShapeResults): string[] {
  if (!r.server?.runs.length) return [];
  return [
    '',
    `### Temporal's server work per accepted order (the server's own counters, each turn of a capacity run and each stress step after ${STEADY_MS / 1000} s of the same load, so the timers that fire in its window are its own load's; load/lib/temporal-server.ts)`,
    '',
    ...serverTable(r.server.runs),
  ];
}

function printQuick(runs: readonly ShapeResults[]): void {
  for (const r of runs) {
    const { baseline, real, cpu, feedAt10: feed } = r;
    console.log(`\n${r.shape} shape`);
    console.log(
      [
        ...summaryTable([baseline.saga, real.saga10, real.capacity, real.at10]),
        '',
        ...cpuTable(cpu.runs, cpuComponents(r.shape)),
        ...budgetLines(r),
        ...ackPhaseLines(r),
        ...serverSection(r),
        ...ioSection(r),
      ].join('\n'),
    );
    console.log(
      `fill-to-client at 10/s: p50 ${pct(feed, 50)} ms, p99 ${pct(feed, 99)} ms over ${feed.length} fills`,
    );
    console.log(
      `real/no-op saga ${saturationRatio(r)} of ${baseline.saga.rounds.map((x) => x.toFixed(1)).join(', ')}/s, ACK p95 ${(real.at10.p95 / real.saga10.p95).toFixed(2)}x`,
    );
    if (r.shape === 'cluster') console.log(instanceTable(ordersOf(r)).join('\n'));
  }
  const [dev, cluster] = runs;
  if (dev && cluster) console.log(['', ...comparisonTable(cluster, dev)].join('\n'));
}

interface RateSteps {
  steps: Summary[];
  /** Fill-to-client latencies of the steps within capacity. */
  feed: number[];
  /** Those of the step past capacity (reported, not judged). */
  overloadedFeed: number[];
}

/** Constant arrival rates, stepped up until errors appear, the rate is not kept or the p95 doubles. */
async function stepRates(placeOrder: Fire, p95At10: number, fills: FillWatcher): Promise<RateSteps> {
  const out: RateSteps = { steps: [], feed: [], overloadedFeed: [] };
  fills.recording = true;
  for (const rate of [10, 20, 30, 40, 50, 60, 70, 80]) {
    fills.newStep();
    const s = await openLoop(`orders at ${rate}/s`, rate, STEP_SECONDS, placeOrder);
    out.steps.push(s);
    log(`  ${rate}/s: ok ${s.ok}/${s.sent}, p95 ${s.p95.toFixed(0)} ms`);
    if (s.errors5xx + s.other + s.shed > 0 || s.p95 > 2 * p95At10 || s.throughput < 0.9 * rate) {
      out.overloadedFeed = fills.step;
      break;
    }
    out.feed.push(...fills.step);
  }
  fills.recording = false;
  return out;
}

/**
 * The stress ramp: one crowd that grows from step to step, each step measured by the CPU account and,
 * when it is read, Temporal's server's, after STEADY_MS of its own crowd: the timers that fire in its
 * window are those of its own load, as for the capacity runs, and its users keep the Retry-After they
 * were told before it (a crowd started afresh for each window would arrive all at once, on an api that
 * had just drained the crowd before: when its last second saw no request, it tells them all to come back
 * in 1 s).
 */
async function stressRamp(placeOrder: Fire, cpu: CpuAccount, server?: ServerAccount): Promise<Summary[]> {
  log('(c) stress ramp');
  const ramp: Summary[] = [];
  const crowd = startClosedLoop(0, placeOrder);
  try {
    for (const users of [100, 300, 500]) {
      crowd.growTo(users);
      await sleep(STEADY_MS);
      const step = () =>
        cpu.measure(async () => summarize(await crowd.window(`stress ${users} users`, STEP_SECONDS)));
      ramp.push(await (server ? server.measure(step) : step()));
    }
  } finally {
    await crowd.stop();
  }
  return ramp;
}

interface AfterRun {
  /** Orders still pending when the wait ended, and how long it waited. */
  pending: number;
  settledAfter: number;
  imbalances: number;
  counts: { total: number; resting: number; terminal: number; trades: number };
}

/** Afterwards: every accepted order terminal or resting within 60 s, and the ledger balanced. */
async function checkAfterRun(db: Db): Promise<AfterRun> {
  let pending = -1;
  const t0 = Date.now();
  while (Date.now() - t0 < 60_000) {
    const [row] = await db.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM orders WHERE status = 'pending'`,
    );
    pending = row!.n;
    if (pending === 0) break;
    await sleep(1000);
  }
  const settledAfter = (Date.now() - t0) / 1000;
  const imbalances = await ledgerImbalances(db);
  const [counts] = await db.execute<AfterRun['counts']>(sql`
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE status IN ('working', 'partially_filled'))::int AS resting,
           count(*) FILTER (WHERE status IN ('filled', 'cancelled', 'expired', 'rejected'))::int AS terminal,
           (SELECT count(*)::int FROM trades) AS trades
    FROM orders`);
  return { pending, settledAfter, imbalances: imbalances.length, counts: counts! };
}

// ---- the report -------------------------------------------------------------------------------------

/** Every order request of a shape's runs through the api (capacity, 10/s, rate steps, stress ramp). */
function ordersOf(r: ShapeResults): Summary[] {
  return [r.real.capacity, r.real.at10, ...(r.full?.steps.steps ?? []), ...(r.full?.ramp ?? [])];
}

/** The requests each api instance answered (and the 2xx among them), per run and over all of them. */
function instanceTable(runs: readonly Summary[]): string[] {
  const all = {
    ...runs[0]!,
    label: 'all order requests',
    byInstance: addCounts(runs.map((r) => r.byInstance)),
    okByInstance: addCounts(runs.map((r) => r.okByInstance)),
  };
  const instances = Object.keys(all.byInstance).sort();
  return markdownTable(
    ['run', ...instances, 'requests'],
    [...runs, all].map((r) => {
      const share = shares(r.byInstance);
      return [
        r.label,
        ...instances.map((i) => `${(share[i] ?? 0).toFixed(1)}% (${r.okByInstance[i] ?? 0} ok)`),
        Object.values(r.byInstance).reduce((a, b) => a + b, 0),
      ];
    }),
  );
}

/** The cluster's key figures against the development shape's of the same invocation. */
function comparisonTable(cluster: ShapeResults, dev: ShapeResults): string[] {
  /** CPU ms per accepted request of one run, over the given components (all when none given). */
  const cpuOf = (r: ShapeResults, run: Summary, components?: string[]) => {
    const per = perRequestOf(r, run);
    return [...per].filter(([c]) => !components || components.includes(c)).reduce((a, [, v]) => a + v, 0);
  };
  const rows: [string, (r: ShapeResults) => number, number | '%'][] = [
    ['no-op saga, 32 users: sagas/s', (r) => r.baseline.saga.throughput, 1],
    ['orders through the API, 32 users: ACKed orders/s', (r) => r.real.capacity.throughput, 1],
    [
      'real flow / no-op saga at saturation',
      (r) => r.real.capacity.throughput / r.baseline.saga.throughput,
      '%',
    ],
    ['orders at 10/s: ACKed orders/s', (r) => r.real.at10.throughput, 1],
    ['orders at 10/s: ACK p50, ms', (r) => r.real.at10.p50, 0],
    ['orders at 10/s: ACK p95, ms', (r) => r.real.at10.p95, 0],
    ['no-op saga at 10/s: p50, ms', (r) => r.real.saga10.p50, 0],
    ['no-op saga at 10/s: p95, ms', (r) => r.real.saga10.p95, 0],
    ['ACK p95 at 10/s / no-op saga p95 at 10/s', (r) => r.real.at10.p95 / r.real.saga10.p95, 2],
    ['CPU per order, 32 users: every component, ms', (r) => cpuOf(r, r.real.capacity), 1],
    [
      `CPU per order, 32 users: Temporal's server (with ${TEMPORAL_POSTGRES}), ms`,
      (r) => cpuOf(r, r.real.capacity, ['temporal', TEMPORAL_POSTGRES]),
      1,
    ],
    ['CPU per order at 10/s: every component, ms', (r) => cpuOf(r, r.real.at10), 1],
    ['CPU per no-op saga, 32 users: every component, ms', (r) => cpuOf(r, r.baseline.saga), 1],
  ];
  const fmt = (v: number, digits: number | '%') =>
    !Number.isFinite(v) ? 'n/a' : digits === '%' ? `${(100 * v).toFixed(0)}%` : v.toFixed(digits);
  return markdownTable(
    ['figure', 'development', 'cluster', 'cluster / development'],
    rows.map(([what, get, digits]) => {
      const [d, c] = [get(dev), get(cluster)];
      return [what, fmt(d, digits), fmt(c, digits), fmt(c / d, 2) + (Number.isFinite(c / d) ? 'x' : '')];
    }),
  );
}

/** `MAX_INFLIGHT_ORDERS=…` as each shape's api instances had it. */
function admissionLine(r: ShapeResults, dev?: ShapeResults): string {
  const one = (x: ShapeResults) =>
    x.apiInstances > 1
      ? `MAX_INFLIGHT_ORDERS=${x.maxInflight} per api instance (${x.apiInstances * x.maxInflight} in the ${x.shape} shape's ${x.apiInstances} instances)`
      : `MAX_INFLIGHT_ORDERS=${x.maxInflight}${dev ? ` in the ${x.shape} shape` : ''}`;
  return [r, ...(dev ? [dev] : [])].map(one).join('; ');
}

function targets(r: ShapeResults & { full: NonNullable<ShapeResults['full']> }): Target[] {
  const { baseline, real } = r;
  const { steps, ramp, after } = r.full;
  const plateau = Math.max(...ramp.map((x) => x.throughput), real.capacity.throughput);
  const at500 = ramp[ramp.length - 1]!;
  const sustained = Math.max(
    real.capacity.throughput,
    ...steps.steps.filter((s) => s.errors5xx + s.other + s.shed === 0).map((s) => s.throughput),
  );
  const { feed, overloadedFeed } = steps;
  const instanceShares = shares(addCounts(ordersOf(r).map((s) => s.byInstance)));
  const budget = budgetOf(r);
  return [
    {
      what: 'sustained ACKed orders >= 37/s with 0% errors',
      met: sustained >= 37,
      value: `${sustained.toFixed(1)}/s`,
    },
    {
      what: `real saga throughput >= ${100 * TARGET_SHARE}% of the no-op saga`,
      met: real.capacity.throughput >= TARGET_SHARE * baseline.saga.throughput,
      value: saturationRatio(r),
    },
    {
      what: 'ACK p95 at 10/s <= 1.5x the no-op saga',
      met: real.at10.p95 <= 1.5 * real.saga10.p95,
      value: `${(real.at10.p95 / real.saga10.p95).toFixed(2)}x`,
    },
    ...(r.shape === 'development'
      ? [
          {
            what: `the application's CPU per order >= 30% under the "before" run's (${BEFORE.share} of the no-op saga's)`,
            met: budget.applicationShare <= 0.7 * BEFORE.share,
            value: `${budget.applicationShare.toFixed(2)} of the no-op saga's, ${(100 * (1 - budget.applicationShare / BEFORE.share)).toFixed(0)}% under`,
          },
        ]
      : []),
    fillToClientTarget(feed, overloadedFeed),
    {
      what: 'stress: no 5xx',
      met: ramp.every((x) => x.errors5xx === 0),
      value: ramp.map(fiveXx).join(' / '),
    },
    {
      what: 'stress: throughput at 500 users >= 90% of plateau',
      met: at500.throughput >= 0.9 * plateau,
      value: `${((100 * at500.throughput) / plateau).toFixed(0)}%`,
    },
    ...(r.shape === 'cluster'
      ? [
          {
            what: 'each api instance answers 25 to 40% of the order requests',
            met:
              Object.keys(instanceShares).length === 3 &&
              Object.values(instanceShares).every((v) => v >= 25 && v <= 40),
            value: Object.entries(instanceShares)
              .sort()
              .map(([k, v]) => `${k} ${v.toFixed(1)}%`)
              .join(', '),
          },
        ]
      : []),
    {
      what: 'every accepted order terminal or resting within 60 s',
      met: after.pending === 0,
      value: `${after.pending} pending after ${after.settledAfter.toFixed(0)} s`,
    },
    { what: 'ledger balanced', met: after.imbalances === 0, value: `${after.imbalances} imbalances` },
  ];
}

/** The report of a full run; for the cluster, `dev` holds the development shape's key runs of the same invocation. */
function renderReport(
  base: Config,
  r: ShapeResults,
  dev?: ShapeResults,
  connections?: { have: number; compose: number },
): string {
  if (!r.full) throw new Error('renderReport needs a full run');
  const full = { ...r, full: r.full };
  const { baseline, real, cpu } = r;
  const { steps, ramp, after } = r.full;
  const cluster = r.shape === 'cluster';
  const sandbox = sandboxOptions(base);
  const pkg = (name: string) =>
    (
      JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  const { counts } = after;
  const cpuTitle = `ms, utime+stime from /proc over the step; the baselines' worker is \`baseline\``;
  return [
    cluster ? `# End-to-end benchmark: the production shape` : `# End-to-end benchmark`,
    ``,
    cluster
      ? `- Command: \`BENCH_SHAPE=cluster npm run bench\` (BENCH_STEP_SECONDS=${STEP_SECONDS}; first the two 10/s ACK runs, ${ACK_STEP_SECONDS} s each, in ${ACK_ROUNDS} rounds, then the two capacity runs in ${CAPACITY_ROUNDS} rounds of ${STEP_SECONDS} s each, every turn measured after ${STEADY_MS / 1000} s of the same load, by the answers that arrived in its window while its users went on; two runs take turns in reverse order every other round, A B, B A, A B); the cluster of \`npm run start:cluster\` on one machine: nginx over api-1..3, two trading workers, matching-0, matching-1 and a standby, two outbox relays; ${BASELINE_WORKERS.cluster} baseline workers for the no-op saga. Before it, in the same invocation, the development shape's key runs (\`npm start\`'s processes on the dev server: the no-op saga and the real flow at saturation and at 10/s)`
      : `- Command: \`npm run bench\` (BENCH_STEP_SECONDS=${STEP_SECONDS}; first the two 10/s ACK runs, ${ACK_STEP_SECONDS} s each, in ${ACK_ROUNDS} rounds, then the two capacity runs in ${CAPACITY_ROUNDS} rounds of ${STEP_SECONDS} s each, every turn measured after ${STEADY_MS / 1000} s of the same load, by the answers that arrived in its window while its users went on; two runs take turns in reverse order every other round, A B, B A, A B); everything on loopback, one process per component`,
    `- Machine: ${machineSummary()}; Node ${process.version}; load average ${LOAD_AT_START.toFixed(1)} when the run started`,
    `- Versions: ${[
      ...(dev || !cluster ? ['Temporal CLI dev server 1.5.1 (SQLite, WAL, synchronous=normal)'] : []),
      ...(cluster
        ? ['Temporal server 1.29.1 on the local PostgreSQL (postgres12 plugin, 128 history shards, ADR 0018)']
        : []),
    ].join(
      '; ',
    )}; TypeScript SDK ${pkg('@temporalio/worker')}; PostgreSQL and Redis local${connections ? ` (PostgreSQL max_connections ${connections.have}; docker-compose.yml's postgres has ${connections.compose}, and the cluster takes about 100 under load: below that, requests that find no connection get 503)` : ''}`,
    `- Dev-server dynamic config: ${dynamicConfigValues()
      .map((v) => `\`${v}\``)
      .join(', ')}${cluster ? ' (the same file configures the cluster server)' : ''}`,
    `- Trading worker (the no-op saga runs on the same worker factory with empty steps): ${Object.entries(
      TRADING_WORKER_TUNING,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}, workflow sandbox with SANDBOX_WATCHDOG=${sandbox.watchdog ? 'on' : 'off'} and SANDBOX_STACK_TRACES=${sandbox.stackTraces ? 'on' : 'off'} (ADR 0013, ADR 0016); validate, reserve and persist as local activities in the first workflow task; api admission limit ${admissionLine(r, dev)}`,
    `- Order mix: limit orders of 1 AAPL at 165.00 from 4 buyers and 4 sellers, each order on the side with fewer orders placed, so alternately, a shed request not counting (about half fill on arrival)`,
    `- Date: ${new Date().toISOString()}`,
    ``,
    `## Results`,
    ``,
    ...summaryTable([baseline.activity!, baseline.saga, real.saga10, real.capacity, real.at10]),
    ``,
    `### Constant arrival rates (stepped until errors or the p95 doubles)`,
    ``,
    ...summaryTable(steps.steps),
    ``,
    `### Stress ramp (one closed-loop crowd, grown from step to step; after a 429 a user waits as long as its Retry-After says; each step measured after ${STEADY_MS / 1000} s of the same crowd, by the answers that arrived in its window)`,
    ``,
    ...summaryTable(ramp),
    ``,
    `Orders after the run: ${counts.total} total, ${counts.resting} resting, ${counts.terminal} terminal, ${counts.trades} trades.`,
    ...(cluster
      ? [
          ``,
          `### Requests per api instance behind nginx (least_conn; the \`X-Instance\` of every answer, 429 and 5xx included, with the 2xx among them; \`nginx\`: nginx's own 502/504)`,
          ``,
          ...instanceTable(ordersOf(r)),
        ]
      : []),
    ``,
    `### CPU per accepted order (${cpuTitle}${cluster ? `; \`${TEMPORAL_POSTGRES}\`: the Postgres backends of Temporal's two databases, \`postgres\` every other Postgres process` : ''})`,
    ``,
    ...cpuTable(cpu.runs, cpuComponents(r.shape)),
    ...budgetLines(r),
    ...ackPhaseLines(r),
    ...serverSection(r),
    ...ioSection(r),
    ...(dev
      ? [
          ``,
          `## The development shape, same invocation`,
          ``,
          `Its key runs, on a clean stack of \`npm start\`'s processes (the dev server, one api, one worker of each kind), just before the cluster started.`,
          ``,
          ...summaryTable([dev.baseline.saga, dev.real.saga10, dev.real.capacity, dev.real.at10]),
          ``,
          `CPU per accepted order (${cpuTitle}):`,
          ``,
          ...cpuTable(dev.cpu.runs, cpuComponents(dev.shape)),
          ``,
          `### Cluster against development`,
          ``,
          ...comparisonTable(r, dev),
        ]
      : []),
    ``,
    `## Targets`,
    ``,
    ...targetsTable(targets(full)),
    ``,
  ].join('\n');
}

await main();
