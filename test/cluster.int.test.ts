/**
 * `npm run start:cluster` end to end (devstack/cluster.ts): the production topology of
 * docker-compose.yml as local processes, on free ports, with databases and Redis keys of its own prefix,
 * so it runs beside other test files and beside a running `npm start` or `npm run start:cluster`.
 * Temporal's server on Postgres (never the dev server), the api and the workers started with compose's
 * own command lines (compiled JavaScript, devstack/build.ts), three api instances behind nginx sharing
 * /health, an order placed through nginx whose saga the server's visibility and the Web UI find by its
 * search attribute, an alert mailed by its Alertmanager through its Mailpit, and a stop that leaves no
 * listener. One file: starting the cluster is the slow part.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import { mailSearchQuery } from './helpers.js';
import { removeRedisKeys } from '../lib/redis.js';
import { portOpen } from '../devstack/processes.js';
import { postgresConnections, startCluster, type Cluster } from '../devstack/cluster.js';
import { commandOf, loadCompose } from '../devstack/compose.js';
import { dropDatabasesNamed } from '../db/migrate.js';
import { clusterBinaries } from './binaries.js';
import { eventually } from './eventually.js';

const binaries = clusterBinaries();
const base = loadConfig(process.env);
const prefix = `ctest_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}_`;
let cluster: Cluster | undefined;
let ports: number[] = [];

beforeAll(async () => {
  cluster = await startCluster({
    ports: 'free',
    prefix,
    databaseUrl: base.DATABASE_URL,
    redisUrl: base.REDIS_URL,
    toolsDir: base.BROKERX_TOOLS_DIR,
    output: 'ignore',
    log: () => undefined,
    debianBins: binaries.bins(),
  });
  ports = cluster.plan.services.flatMap((s) => Object.values(s.ports));
}, 900_000);

afterAll(async () => {
  await cluster?.stop();
  await dropDatabasesNamed(base.DATABASE_URL, prefix);
  await removeRedisKeys(base.REDIS_URL, prefix);
}, 120_000);

/** Through nginx, as a client would. */
async function call(
  path: string,
  opts: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${cluster!.urls.api}${path}`, {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
  };
}

/** The newest mail to `to` whose subject matches, from the cluster's Mailpit, within `timeoutMs`. */
async function mailText(to: string, subject: RegExp, timeoutMs = 30_000): Promise<string> {
  for (let i = 0; i < timeoutMs / 200; i++) {
    const list = (await (
      await fetch(`${cluster!.urls.mailpit}/api/v1/search?query=${mailSearchQuery(to)}`)
    ).json()) as { messages: { ID: string; Subject: string }[] };
    const hit = list.messages.find((m) => subject.test(m.Subject));
    if (hit)
      return (
        (await (await fetch(`${cluster!.urls.mailpit}/api/v1/message/${hit.ID}`)).json()) as { Text: string }
      ).Text;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail to ${to} matching ${String(subject)}`);
}

describe.skipIf(binaries.skip)(`npm run start:cluster (startCluster)${binaries.note}`, () => {
  it("runs Temporal's server v1.29.1 on Postgres, and no process runs the dev server", async () => {
    const sql = postgres(base.DATABASE_URL.replace(/\/[^/]*$/, `/${cluster!.databases.temporal}`), {
      max: 1,
    });
    try {
      const [row] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('executions', 'history_node', 'shards')`;
      expect(row?.n).toBe(3);
    } finally {
      await sql.end({ timeout: 5 });
    }
    const connection = await Connection.connect({ address: cluster!.urls.temporal });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBe('1.29.1');
    } finally {
      await connection.close();
    }
    for (const h of Object.values(cluster!.handles)) {
      const child = h.current()?.child;
      expect(child?.pid, h.service).toBeDefined();
      if (child?.exitCode !== null) continue; // a one-shot (migrate) that has finished
      const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      expect(cmdline, h.service).not.toContain('start-dev');
    }
  });

  it("runs the api and the workers with compose's command lines in its copy of the image's /app", async () => {
    const services = loadCompose().services;
    const built = Object.keys(services).filter((name) => services[name]!.build);
    expect(built.length).toBeGreaterThan(5);
    for (const name of built) {
      const child = cluster!.handles[name]?.current()?.child;
      expect(child?.pid, name).toBeDefined();
      if (child?.exitCode !== null) continue; // a one-shot (migrate) that has finished
      const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
      expect(cmdline, name).toEqual([process.execPath, ...commandOf(services[name]!).slice(1)]);
      expect(readlinkSync(`/proc/${child.pid}/cwd`), name).toBe(cluster!.plan.appDir);
    }
  });

  it('answers /health through nginx from each of the three api instances over 30 requests', async () => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const res = await call('/health');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-upstream-server')).toMatch(/^127\.0\.0\.1:\d+$/);
      const instance = res.headers.get('x-instance') ?? 'none';
      seen[instance] = (seen[instance] ?? 0) + 1;
    }
    expect(Object.keys(seen).sort()).toEqual(['api-1', 'api-2', 'api-3']);
  });

  it('places an order through nginx whose saga the Temporal server and its Web UI find by its search attribute', async () => {
    const email = `cluster-${randomUUID().slice(0, 8)}@example.test`;
    const password = 'correct-horse-battery-staple';
    const client = { email, password, first_name: 'Ada', last_name: 'Lovelace' };
    expect((await call('/api/v1/clients/register', { body: { client } })).status).toBe(201);
    const token = /[?&]token=([A-Za-z0-9_-]+)/.exec(await mailText(email, /verify/i))?.[1];
    expect((await call(`/api/v1/clients/verify?token=${token}`)).status).toBe(200);
    expect((await call('/api/v1/auth/login', { body: { email, password } })).status).toBe(200);
    const code = /\b(\d{6})\b/.exec(await mailText(email, /login code/i))?.[1];
    const session = await call('/api/v1/auth/verify_mfa', { body: { email, code } });
    expect(session.status).toBe(200);
    const jwt = session.body.token as string;
    const deposit = await call('/api/v1/deposits', {
      token: jwt,
      body: { amount: '1000.00', currency: 'USD' },
      headers: { 'idempotency-key': randomUUID() },
    });
    expect(deposit.status).toBe(201);
    const order = await call('/api/v1/orders', {
      token: jwt,
      body: {
        order: {
          symbol: 'AAPL',
          order_type: 'limit',
          direction: 'buy',
          quantity: 1,
          price: '160.00', // inside AAPL's band (190.00 ± 20 %), below any ask: it rests
          time_in_force: 'GTC',
          client_order_id: `cluster-${randomUUID().slice(0, 8)}`,
        },
      },
    });
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    const orderId = order.body.order_id as string;
    expect(orderId).toBeTruthy();

    const connection = await Connection.connect({ address: cluster!.urls.temporal });
    try {
      const temporal = new Client({ connection, namespace: 'default' });
      let found: { workflowId: string; type: string } | undefined;
      for (let i = 0; i < 100 && !found; i++) {
        for await (const wf of temporal.workflow.list({ query: `OrderId = "${orderId}"` }))
          found = { workflowId: wf.workflowId, type: wf.type };
        if (!found) await new Promise((r) => setTimeout(r, 200));
      }
      expect(found?.type).toBe('TradingSaga');
      const described = await temporal.workflow.getHandle(found!.workflowId).describe();
      expect(described.status.name).toBe('RUNNING'); // a GTC order rests on the book
    } finally {
      await connection.close();
    }
    // The Web UI (temporal-ui-server) answers on its port and lists the saga, as an operator would see it.
    const listed = (await (
      await fetch(
        `${cluster!.urls.ui}/api/v1/namespaces/default/workflows?query=${encodeURIComponent(`OrderId = "${orderId}"`)}`,
      )
    ).json()) as { executions?: { type: { name: string } }[] };
    expect(listed.executions?.map((e) => e.type.name)).toEqual(['TradingSaga']);
  });

  it('mails an alert through its Alertmanager to its Mailpit, the Alertmanager Prometheus sends alerts to', async () => {
    // Prometheus found the local Alertmanager (from compose's `alertmanager:9093`, localized).
    const active = await eventually(async () => {
      const body = (await (await fetch(`${cluster!.urls.prometheus}/api/v1/alertmanagers`)).json()) as {
        data: { activeAlertmanagers: { url: string }[] };
      };
      const urls = body.data.activeAlertmanagers.map((a) => a.url);
      expect(urls.length).toBeGreaterThan(0);
      return urls;
    }, 30_000);
    expect(active.map((u) => new URL(u).origin)).toEqual([cluster!.urls.alertmanager]);
    // An alert as Prometheus posts it: critical goes to on-call, mailed after the route's group_wait (30 s).
    const alertname = `ClusterTest${randomBytes(3).toString('hex')}`;
    const posted = await fetch(`${cluster!.urls.alertmanager}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: { alertname, severity: 'critical' },
          annotations: { summary: 'cluster test', runbook_url: 'docs/runbooks/cluster.md' },
        },
      ]),
    });
    expect(posted.status).toBe(200);
    const text = await mailText('oncall@brokerx.local', new RegExp(`critical\\] ${alertname}$`), 90_000);
    expect(text).toContain('Runbook: docs/runbooks/cluster.md');
  });

  it("reads the machine's PostgreSQL max_connections beside the one docker-compose.yml gives its postgres", async () => {
    const c = await postgresConnections(new URL(base.DATABASE_URL), loadCompose());
    expect(c.compose).toBe(300);
    expect(c.have).toBeGreaterThan(0);
  });

  it('stops every process it started: no listener is left on its ports', async () => {
    expect(ports.length).toBeGreaterThan(15);
    await cluster!.stop();
    const open = [];
    for (const p of ports) if (await portOpen(p)) open.push(p);
    expect(open).toEqual([]);
  }, 120_000);
});
