/**
 * Fault injection for integration tests. Each helper breaks only what the test owns: a private
 * Temporal dev server on its own file and ports, a private `redis-server`, the Postgres connections
 * whose application_name starts with the test's own DATABASE_APPLICATION_PREFIX, and the connections
 * through a proxy of its own in front of Postgres or Redis. Never the run's shared Temporal, the
 * machine's Redis, or anybody else's connections.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { expect } from 'vitest';
import { freePort, startProcess, waitForPort, type Managed, type Supervised } from '../devstack/processes.js';
import { superviseDevServer, type DevServerOptions } from '../devstack/dev-server.js';

export interface PrivateTemporal {
  /** host:port for TEMPORAL_ADDRESS. */
  address: string;
  options: DevServerOptions;
  /** The supervised dev server now running (restarted on its file when it dies); undefined while stopped. */
  server(): Supervised | undefined;
  /** Stop it for good (no restart): Temporal is unreachable until start(). */
  stop(): Promise<void>;
  /** Start it again on the same file and ports. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A dev server of the test's own, on a SQLite file (so a restart brings every workflow back). */
export async function startPrivateTemporal(temporalBin: string): Promise<PrivateTemporal> {
  const dir = mkdtempSync(join(tmpdir(), 'brokerx-fault-temporal-'));
  const [port, httpPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const options: DevServerOptions = {
    bin: temporalBin,
    dbFile: join(dir, 'temporal.db'),
    port,
    httpPort,
    metricsPort,
    output: 'ignore',
  };
  let server: Supervised | undefined = await superviseDevServer(options);
  return {
    address: `127.0.0.1:${port}`,
    options,
    server: () => server,
    async stop() {
      await server?.stop('SIGKILL');
      server = undefined;
    },
    async start() {
      server ??= await superviseDevServer(options);
    },
    async close() {
      await server?.stop('SIGTERM', 5000);
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Terminate (pg_terminate_backend) every connection whose application_name starts with `prefix`. */
export async function terminateConnections(databaseUrl: string, prefix: string): Promise<number> {
  if (prefix.length < 4) throw new Error(`refusing to terminate connections by the short prefix "${prefix}"`);
  // pg_stat_activity is the server's: ask through the maintenance database, which always exists.
  const admin = postgres(databaseUrl.replace(/\/[^/]*$/, '/postgres'), {
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'fault-injector' },
  });
  try {
    const rows = await admin<{ ok: boolean }[]>`
      SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
       WHERE starts_with(application_name, ${prefix}) AND pid <> pg_backend_pid()`;
    return rows.filter((r) => r.ok).length;
  } finally {
    await admin.end({ timeout: 2 });
  }
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** Stop it (SIGKILL: no goodbye to the clients), then start it again on the same port, empty. */
  restart(downMs?: number): Promise<void>;
  /** SIGSTOP it: its connections stay open and nothing is answered (a hung Redis) until it is stopped. */
  freeze(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A `redis-server` of the test's own on a free port, without persistence. */
export async function startPrivateRedis(bin = 'redis-server'): Promise<PrivateRedis> {
  const port = await freePort();
  let proc: Managed | undefined;
  const start = async () => {
    proc = startProcess(
      'redis',
      bin,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { output: 'ignore' },
    );
    await waitForPort(port, 'redis-server', 10_000, proc);
  };
  const stop = async () => {
    await proc?.stop('SIGKILL');
    proc = undefined;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    start,
    stop,
    freeze() {
      if (proc?.child.pid !== undefined) process.kill(proc.child.pid, 'SIGSTOP');
    },
    async restart(downMs = 500) {
      await stop();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    close: stop,
  };
}

export interface TcpProxy {
  /** The service's URL through the proxy. */
  url: string;
  /**
   * The service goes away: every connection through the proxy is cut, and the next `connects` are
   * refused (reset at once, as a stopped server's port answers), all of them until `resume` when none is
   * given. Resolves once they were; then it forwards again.
   */
  outage(connects?: number): Promise<void>;
  /** The outage ends now: connects are forwarded again. */
  resume(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy of the test's own in front of the run's Postgres or Redis (`serviceUrl`, whose host and
 * port it takes), whose outages count connects, not time.
 */
export async function startTcpProxy(serviceUrl: string): Promise<TcpProxy> {
  const target = new URL(serviceUrl);
  const open = new Set<Socket>();
  let refusing = 0;
  let refusedAll = () => {};
  const server = createServer((client) => {
    if (refusing > 0) {
      client.resetAndDestroy();
      if (--refusing === 0) refusedAll();
      return;
    }
    const upstream = connect(
      Number(target.port || (target.protocol === 'redis:' ? 6379 : 5432)),
      target.hostname,
    );
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(socket);
      socket.on('error', () => other.destroy());
      socket.on('close', () => {
        open.delete(socket);
        other.destroy();
      });
      socket.pipe(other);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(serviceUrl);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: url.toString(),
    outage(connects = Infinity) {
      refusing = connects;
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => (refusedAll = resolve));
    },
    resume() {
      refusing = 0;
      refusedAll();
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A dependency outage answered as it must be: 503 problem+json with Retry-After, never a 500. */
export async function expectUnavailable(res: Response): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(503);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(JSON.parse(text)).toMatchObject({ status: 503, code: 'service_unavailable' });
}
