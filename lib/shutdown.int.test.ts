/**
 * A SIGTERM while a process starts (lib/shutdown.ts), on the real processes: the api, the trading and
 * matching workers and the outbox relay, each waiting for a Temporal that accepts the connection and
 * never answers, end their boot and exit 0 (without a handler Node died of the signal, 143). A matching
 * worker stopped while it creates its shard's worker (Temporal stopped answering after it connected)
 * gives the shard's lease up and exits 0, instead of waiting for Temporal until `shutdown timed out`.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, startProcess, type Managed } from '../devstack/processes.js';
import { eventually } from '../test/eventually.js';
import { isolatedEnv } from '../test/isolated.js';
import { shardLockKey } from '../workers/lease.js';

let env: Record<string, string>;
const procs: Managed[] = [];
const servers: Server[] = [];
const sockets = new Set<Socket>();

beforeAll(async () => {
  env = { ...process.env, ...inject('env'), ...(await isolatedEnv('boot-signal')) } as Record<string, string>;
});

afterAll(async () => {
  await Promise.allSettled(procs.map((p) => p.stop('SIGKILL', 1000)));
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A TCP server on a free port of the OS's choice: `handle` gets each connection. */
async function listen(handle: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket.on('error', () => undefined).on('close', () => sockets.delete(socket)));
    handle(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** `main` started as `npm start` does (tsx), its stdout lines kept. */
function start(main: string, extra: Record<string, string>): { proc: Managed; lines: string[] } {
  const lines: string[] = [];
  const proc = startProcess(main, process.execPath, ['--import', 'tsx', main], {
    env: { ...env, METRICS_PORT: '0', LOG_LEVEL: 'info', INSTANCE_ID: 'boot-signal', ...extra },
    output: (_name, line) => lines.push(line),
  });
  procs.push(proc);
  return { proc, lines };
}

/** SIGTERM to the process itself (what Docker's init forwards); its exit code once its output ended. */
async function sigterm(proc: Managed): Promise<number | null> {
  const closed = new Promise((resolve) => proc.child.once('close', resolve));
  process.kill(proc.child.pid!, 'SIGTERM');
  const code = await proc.exited;
  await closed;
  return code;
}

const said = (lines: string[], msg: string) => lines.some((l) => l.includes(`"msg":"${msg}"`));

describe('a SIGTERM while a process starts', () => {
  it.each(['api/main.ts', 'workers/trading/main.ts', 'workers/matching/main.ts', 'workers/outbox/main.ts'])(
    '%s, waiting for Temporal, ends its boot: exit 0',
    async (main) => {
      let connected!: () => void;
      const waiting = new Promise<void>((resolve) => (connected = resolve));
      // Accepts the connection and never answers: the process waits in NativeConnection.connect.
      const temporal = await listen(() => connected());
      const { proc, lines } = start(main, {
        TEMPORAL_ADDRESS: `127.0.0.1:${temporal}`,
        PORT: String(await freePort()),
        API_METRICS_PORT: String(await freePort()),
      });
      await Promise.race([
        waiting,
        proc.exited.then(() => {
          throw new Error(`${main} exited before connecting: ${proc.lastLines().join('\n')}`);
        }),
      ]);
      const code = await sigterm(proc);
      expect({ code, signal: proc.child.signalCode }, lines.join('\n')).toEqual({ code: 0, signal: null });
      expect(said(lines, 'SIGTERM received while starting, exiting'), lines.join('\n')).toBe(true);
    },
    120_000,
  );

  it('the matching worker, creating its shard’s worker while Temporal does not answer, gives the lease up: exit 0', async () => {
    // A proxy in front of the run's Temporal that stops forwarding on `freeze`.
    const target = new URL(`tcp://${env.TEMPORAL_ADDRESS}`);
    let frozen = false;
    const temporal = await listen((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(upstream);
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        from.on('error', () => to.destroy());
        from.on('close', () => to.destroy());
        from.on('data', (d: Buffer) => void (frozen || to.write(d)));
      }
    });
    // Another session owns shard 0: the worker connects to Temporal and stands by for it.
    const key = shardLockKey(0).toString();
    const other = postgres(env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      await other`SELECT pg_advisory_lock(${key}::bigint)`;
      const { proc, lines } = start('workers/matching/main.ts', {
        TEMPORAL_ADDRESS: `127.0.0.1:${temporal}`,
        MATCHING_SHARDS: '1',
        MATCHING_SHARD_IDS: '',
      });
      await eventually(
        async () => expect(said(lines, 'shard owned elsewhere, standing by')).toBe(true),
        90_000,
      );
      // Temporal stops answering, and the shard is the worker's: it rebuilds and creates its worker.
      frozen = true;
      await other`SELECT pg_advisory_unlock(${key}::bigint)`;
      const held = async () =>
        (
          await other<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
        )[0]!.n;
      await eventually(async () => expect(await held()).toBe(1));

      const code = await sigterm(proc);
      expect(said(lines, 'shutdown timed out'), lines.join('\n')).toBe(false);
      expect(said(lines, 'matching worker stopped'), lines.join('\n')).toBe(true);
      expect(code).toBe(0);
      expect(await held()).toBe(0);
    } finally {
      await other.end({ timeout: 2 });
    }
  }, 120_000);
});
