/**
 * The app's containers as compose runs them: the exact command lines of docker-compose.yml's `migrate`,
 * `api-1`, `worker-outbox` and `worker-trading` (node on a compiled file, no npm, shell or tsx in between;
 * ADR 0027), run in a local copy of the image's /app (devstack/build.ts `prepareAppDir`) against the run's
 * test stack. migrate fills an empty database and exits 0. SIGTERM sent to the process's own pid, which is
 * what Docker's init forwards on `docker stop`, drains it: a request in flight when the signal arrives gets
 * its whole answer, the listeners close, and the process exits 0. A process whose dependency hangs gives
 * up after SHUTDOWN_TIMEOUT_MS (lib/shutdown.ts): `shutdown timed out`, exit 1, before it is killed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, commandOf, loadCompose } from '../devstack/compose.js';
import { prepareAppDir } from '../devstack/build.js';
import { freePort, portOpen, startProcess, waitForPort, type Managed } from '../devstack/processes.js';
import { connectRedis } from '../lib/redis.js';
import { eventually } from './eventually.js';
import { startPrivateRedis } from './faults.js';

const services = loadCompose().services;
const testEnv = inject('env');
const tag = `appcmd_${randomBytes(3).toString('hex')}`;
const database = new URL(testEnv.DATABASE_URL!);
database.pathname = `${database.pathname}_${tag}`;
let appDir = '';
const procs: Managed[] = [];

/** The run's stack plus what compose sets per service (ports, instance); the command line is compose's. */
const envFor = (extra: Record<string, string>) => ({
  PATH: process.env.PATH ?? '',
  ...testEnv,
  DATABASE_URL: database.toString(),
  REDIS_PREFIX: `${testEnv.REDIS_PREFIX}${tag}:`,
  HOST: '127.0.0.1',
  ...extra,
});

/** Compose's command of `service`, started in the app directory with this machine's node. */
function run(service: string, env: Record<string, string>): Managed {
  const [node, ...args] = commandOf(services[service]!);
  expect(node, `${service} starts node directly`).toBe('node');
  // Quiet unless TEST_LOG_LEVEL asks for lines (README, "Tests"); the tests read stdout themselves.
  const output = testEnv.LOG_LEVEL === 'silent' ? 'ignore' : 'prefix';
  const proc = startProcess(service, process.execPath, args, { env, cwd: appDir, output });
  procs.push(proc);
  return proc;
}

/**
 * Resolves with everything the process wrote on stdout once it writes a line matching `pattern`; rejects
 * when it exits first, with the last of what it wrote on stdout and stderr.
 */
function line(proc: Managed, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (pattern.test(out)) resolve(out);
    });
    proc.child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    void proc.exited.then((code) =>
      reject(
        new Error(
          `${proc.name} exited (${code}) before ${String(pattern)}; stdout: ${out.slice(-2000)}; stderr: ${err.slice(-2000)}`,
        ),
      ),
    );
  });
}

/** Send SIGTERM to the process itself (not its group): what Docker's init does on `docker stop`. */
const sigterm = (proc: Managed) => process.kill(proc.child.pid!, 'SIGTERM');

/** The exit code and every line the process wrote, once it has exited and its output ended. */
async function ending(proc: Managed): Promise<{ code: number | null; lines: string[] }> {
  let out = '';
  proc.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise((resolve) => proc.child.once('close', resolve));
  const code = await proc.exited;
  await closed;
  return { code, lines: out.split('\n') };
}

beforeAll(async () => {
  const admin = postgres(new URL('/postgres', database).toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${database.pathname.slice(1)}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  appDir = mkdtempSync(join(tmpdir(), 'brokerx-app-'));
  await prepareAppDir(appDir);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(procs.map((p) => p.stop('SIGKILL', 1000)));
  if (appDir) rmSync(appDir, { recursive: true, force: true });
  // The database goes with the run's others (test/global-setup.ts drops every brokerx_test_<run>*).
});

describe("compose's command lines, run locally", () => {
  it('migrate applies every migration to an empty database and exits 0', async () => {
    const proc = run('migrate', envFor({}));
    let out = '';
    proc.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    expect(await proc.exited).toBe(0);
    const migrations = readdirSync(join(REPO_ROOT, 'db', 'migrations')).filter((f) => f.endsWith('.sql'));
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toMatchObject({
      msg: 'migrations applied',
      applied: migrations.length,
    });
  });

  it('the api drains on SIGTERM: the request in flight is answered, the listeners close, exit 0', async () => {
    const [port, metricsPort] = await Promise.all([freePort(), freePort()]);
    const api = run(
      'api-1',
      envFor({ PORT: String(port), API_METRICS_PORT: String(metricsPort), INSTANCE_ID: tag }),
    );
    // Its metrics port opens last, in the tick that installs the SIGTERM handler (api/main.ts).
    await waitForPort(metricsPort, 'api-1', 90_000, api);
    await eventually(async () => expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200));

    // A login whose body is not sent yet. With `Expect: 100-continue` the server says when it has the
    // request: Node answers 100 Continue as it hands the request to the app, which waits for the body.
    const body = JSON.stringify({ email: `${tag}@example.test`, password: 'not-the-password' });
    const socket: Socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    let response = '';
    const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
    let taken!: () => void;
    const inFlight = new Promise<void>((resolve) => (taken = resolve));
    socket.on('data', (d: Buffer) => {
      response += d.toString();
      if (response.startsWith(CONTINUE)) taken();
    });
    const ended = new Promise<void>((resolve) => socket.once('end', resolve));
    socket.write(
      `POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    );
    await inFlight;

    sigterm(api);
    // The public listener closes while the request is still open, and the process waits for it.
    await eventually(async () => expect(await portOpen(port)).toBe(false), 15_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(api.child.exitCode).toBeNull();
    expect(api.child.signalCode).toBeNull();

    // The body (no half-close: Node's server drops a request whose client ends first).
    socket.write(body);
    await ended;
    const [head = '', text = ''] = response.slice(CONTINUE.length).split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 401 /);
    expect(head.toLowerCase()).toContain('content-type: application/problem+json');
    expect(JSON.parse(text)).toMatchObject({ status: 401 });
    expect(await api.exited).toBe(0);
    expect(await portOpen(metricsPort)).toBe(false);
  });

  it('the outbox relay stops on SIGTERM: its metrics listener closes, exit 0', async () => {
    // Port 0: the relay binds a port the kernel picks and logs it, so no other socket can take it
    // between a free port's choice and the relay's bind.
    const relay = run(
      'worker-outbox',
      envFor({ METRICS_PORT: '0', INSTANCE_ID: `${tag}-outbox`, LOG_LEVEL: 'info' }),
    );
    // Running (and its SIGTERM handler installed) once it says so (workers/outbox/main.ts).
    const out = await line(relay, /outbox relay running/);
    // That line came before the one awaited, so it is whole (the last line read may not be yet).
    const listening = out.split('\n').find((l) => l.includes('"msg":"metrics listening"'));
    const metricsPort =
      listening === undefined
        ? undefined
        : (JSON.parse(listening) as { address?: { port?: number } }).address?.port;
    expect(metricsPort, 'the relay logs its metrics port').toBeTypeOf('number');
    expect(await portOpen(metricsPort!)).toBe(true);
    sigterm(relay);
    expect(await relay.exited).toBe(0);
    expect(await portOpen(metricsPort!)).toBe(false);
  });

  it('a relay whose Redis hangs gives up after SHUTDOWN_TIMEOUT_MS: "shutdown timed out", exit 1', async () => {
    const redis = await startPrivateRedis();
    const probe = connectRedis(redis.url, 'probe');
    try {
      const name = `${tag}-hung`;
      const relay = run(
        'worker-outbox',
        envFor({
          METRICS_PORT: '0',
          INSTANCE_ID: name,
          LOG_LEVEL: 'info',
          REDIS_URL: redis.url,
          SHUTDOWN_TIMEOUT_MS: '500',
        }),
      );
      // Active (it holds the lease and relays): a SIGTERM before that would race the activation.
      await line(relay, /relay active/);
      // Connected (its connection is named after the process, workers/outbox/worker.ts), then Redis hangs:
      // its QUIT (and any publish) is never answered.
      await eventually(async () =>
        expect(String(await probe.client('LIST'))).toContain('name=worker-outbox'),
      );
      probe.disconnect();
      redis.freeze();
      const end = ending(relay);
      sigterm(relay);
      const { code, lines } = await end;
      expect(
        lines.some((l) => l.includes('"msg":"shutdown timed out"')),
        lines.join('\n'),
      ).toBe(true);
      expect(code).toBe(1);
    } finally {
      probe.disconnect();
      await redis.close();
    }
  });

  it('the trading worker stops on SIGTERM through the same shutdown: "trading worker stopped", exit 0', async () => {
    const trading = run(
      'worker-trading',
      envFor({
        METRICS_PORT: '0',
        INSTANCE_ID: `${tag}-trading`,
        LOG_LEVEL: 'info',
        // A task queue of its own: the run's sagas belong to the test files' workers and databases.
        TASK_QUEUE_PREFIX: `${testEnv.TASK_QUEUE_PREFIX}${tag}-`,
      }),
    );
    // Polling (and its SIGTERM handler installed) once it says so (workers/trading/main.ts).
    await line(trading, /trading worker running/);
    const end = ending(trading);
    sigterm(trading);
    const { code, lines } = await end;
    const said = (msg: string) => lines.some((l) => l.includes(`"msg":"${msg}"`));
    expect(said('SIGTERM received, shutting down'), lines.join('\n')).toBe(true);
    expect(said('trading worker stopped'), lines.join('\n')).toBe(true);
    expect(code).toBe(0);
  }, 120_000);
});
