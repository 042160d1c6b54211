/**
 * Bring-up for `BENCH_SHAPE=cluster npm run bench`: the production topology (devstack/cluster.ts, derived
 * from docker-compose.yml: Temporal's server on Postgres, nginx over three api instances, two trading
 * workers, matching-0/1 and a standby, two outbox relays) on free ports with databases and Redis keys
 * of the run's own prefix, behind the same `Stack` interface as the development shape (./stack.ts).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dropDatabasesNamed } from '../../db/migrate.js';
import { startCluster } from '../../devstack/cluster.js';
import type { Managed } from '../../devstack/processes.js';
import { removeRedisKeys } from '../../lib/redis.js';
import { deadProcesses, startNode, waitForReady, type Stack, type StackOptions } from './stack.js';

/** The services on an order's path that are not the application's own processes. */
const PLATFORM = ['temporal', 'mailpit', 'nginx'];

/** The CPU table's component of a cluster service (`api-2` is `api`); null: not on an order's path. */
export function componentOf(service: string): string | null {
  if (/^api-\d+$/.test(service)) return 'api';
  if (/^worker-trading(-\d+)?$/.test(service)) return 'trading';
  if (/^matching-/.test(service)) return 'matching';
  if (/^worker-outbox(-\d+)?$/.test(service)) return 'outbox';
  if (PLATFORM.includes(service)) return service;
  return null;
}

/** Every process below `pid` (compose's `npm run …` commands start node two levels down; nginx forks workers). */
function withDescendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [c, p] of parent) if (p === out[i]) out.push(c);
  return out;
}

export async function startClusterStack(o: StackOptions): Promise<Stack> {
  if (o.nodeArgs.length)
    o.log('BENCH_NODE_ARGS applies to the development shape only (compose names the commands)');
  const prefix = `cbench_${o.id}_`;
  const redisUrl = o.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const cluster = await startCluster({
    ports: 'free',
    prefix,
    databaseUrl: o.databaseUrl,
    redisUrl,
    toolsDir: o.toolsDir,
    output: 'ignore',
    log: o.log,
    // IO_COUNTS=on: the application's processes count their I/O, as on the development shape.
    appEnv: o.env.IO_COUNTS === 'on' ? { IO_COUNTS: 'on' } : undefined,
  });
  const api = cluster.plan.services.find((s) => s.name === 'api-1')?.launch;
  if (api?.kind !== 'process') throw new Error('the cluster plan has no api-1 process');
  // The processes the benchmark adds (the baseline worker) get the app's environment, as api-1 has it.
  const env: NodeJS.ProcessEnv = { ...o.env, ...api.env, LOG_LEVEL: 'warn' };
  const extra: Managed[] = [];
  const stack: Stack = {
    id: o.id,
    env,
    databaseUrl: env.DATABASE_URL!,
    shape: 'cluster',
    endpoints: { api: cluster.urls.api, mailpit: cluster.urls.mailpit },
    temporalDatabases: [cluster.databases.temporal, cluster.databases.visibility],
    apiInstances: cluster.plan.services.filter((s) => componentOf(s.name) === 'api').length,
    // Each application process's /metrics (api-1..3 on API_METRICS_PORT, the workers on METRICS_PORT).
    metricsEndpoints: cluster.plan.services.flatMap((s) => {
      const name = componentOf(s.name);
      const port =
        s.launch.kind === 'process'
          ? (s.launch.env.API_METRICS_PORT ?? s.launch.env.METRICS_PORT)
          : undefined;
      return name && port && !PLATFORM.includes(name)
        ? [{ name, url: `http://127.0.0.1:${port}/metrics` }]
        : [];
    }),
    // Temporal's server serves its metrics where compose's PROMETHEUS_ENDPOINT puts them.
    temporalMetrics: `http://127.0.0.1:${cluster.plan.port('temporal', 7235)}/metrics`,
    processes: () => [
      ...Object.values(cluster.handles).flatMap((h) => {
        const name = componentOf(h.service);
        const pid = h.current()?.child.pid;
        return name && pid ? withDescendants(pid).map((p) => ({ name, pid: p })) : [];
      }),
      ...extra.map((p) => ({ name: p.name, pid: p.child.pid })),
    ],
    dead: () => deadProcesses(extra),
    node(name, file, more = {}) {
      const p = startNode(name, file, { ...env, ...more });
      extra.push(p);
      return p;
    },
    async stopProcess(p) {
      await p.stop('SIGTERM', 10_000);
      extra.splice(extra.indexOf(p), 1);
    },
    async stop() {
      await Promise.allSettled(extra.map((p) => p.stop('SIGTERM', 10_000)));
      await cluster.stop();
      await dropDatabasesNamed(o.databaseUrl, prefix).catch(() => undefined);
      await removeRedisKeys(redisUrl, prefix).catch(() => 0);
    },
  };
  await waitForReady(stack.endpoints.api);
  return stack;
}
