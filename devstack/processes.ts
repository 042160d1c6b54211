/**
 * devstack/: child-process helpers shared by the scripts, the integration tests and the benchmarks: spawn
 * with prefixed output, wait for ports, find free ports, stop all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { finished } from 'node:stream/promises';

export interface Managed {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** The last lines it wrote (stdout and stderr, at most TAIL_LINES), whatever its output mode: why it died. */
  lastLines(): string[];
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const TAIL_LINES = 20;

/**
 * How long `npm start` and `npm run start:cluster` give an app process after SIGTERM before SIGKILL:
 * compose's stop_grace_period, above the process's own deadline (SHUTDOWN_TIMEOUT_MS, lib/shutdown.ts),
 * so one whose dependency hangs still logs `shutdown timed out` and exits on its own.
 */
export const APP_STOP_GRACE_MS = 20_000;

/** Process groups still running. Whatever exits this process (even a forced exit) kills them too. */
const live = new Set<number>();
let exitHookInstalled = false;
function killLiveGroupsOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of live) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/** Where a process's output goes: prefixed with its name to ours, nowhere, or line by line to a function. */
export type Output = 'prefix' | 'ignore' | ((name: string, line: string) => void);

export function startProcess(
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; output?: Output } = {},
): Managed {
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so stop() reaches grandchildren (tsx -> node)
  });
  const out = opts.output ?? 'prefix';
  const tail: string[] = [];
  const pipe = (stream: NodeJS.ReadableStream | null, to: NodeJS.WritableStream) => {
    if (!stream) return;
    let buf = '';
    const line = (text: string) => {
      tail.push(text);
      if (tail.length > TAIL_LINES) tail.shift();
      if (typeof out === 'function') out(name, text);
      else if (out === 'prefix') to.write(`[${name}] ${text}\n`);
    };
    stream.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        line(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream.on('end', () => {
      if (buf) line(buf); // a last line without its newline
      buf = '';
    });
  };
  pipe(child.stdout, process.stdout);
  pipe(child.stderr, process.stderr);
  if (child.pid !== undefined) {
    live.add(child.pid);
    killLiveGroupsOnExit();
  }
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      if (child.pid !== undefined) live.delete(child.pid);
      resolve(code);
    });
    child.on('error', () => resolve(-1));
  });
  return {
    name,
    child,
    exited,
    lastLines: () => [...tail],
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const pid = child.pid;
      const kill = (sig: NodeJS.Signals) => {
        try {
          process.kill(-pid, sig);
        } catch {
          /* already gone */
        }
      };
      kill(signal);
      const timer = setTimeout(() => kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      kill('SIGKILL'); // anything left in the group
    },
  };
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function waitForPort(
  port: number,
  what: string,
  timeoutMs = 60_000,
  proc?: Managed,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await portOpen(port)) return;
    if (proc && proc.child.exitCode !== null) {
      // Its last output may still be in the pipes (stdout and stderr): give them a moment to end.
      const outputs = [proc.child.stdout, proc.child.stderr].flatMap((s) =>
        s ? [finished(s).catch(() => undefined)] : [],
      );
      await Promise.race([Promise.all(outputs), new Promise((r) => setTimeout(r, 500))]);
      throw new Error(
        [
          `${what} exited (code ${proc.child.exitCode}) before listening on :${port}`,
          ...proc.lastLines(),
        ].join('\n  '),
      );
    }
    if (Date.now() > deadline)
      throw new Error(`${what} did not listen on :${port} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The lowest port `freePort` draws from. */
const DRAWN_FROM = 20_000;
/** Ports this process handed out already: never twice, even once they are closed again. */
const handedOut = new Set<number>();

/** The first port of the machine's ephemeral range (Linux's default when it cannot be read). */
function ephemeralStart(): number {
  try {
    const first = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    if (Number.isInteger(first) && first > 0) return first;
  } catch {
    /* not Linux */
  }
  return 32_768;
}

/** Bind `port` on 127.0.0.1 and close it again: the port bound (the OS's choice for 0), undefined if taken. */
function bindable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(bound));
    });
  });
}

/**
 * A TCP port that is free now and that no other process will be given by the OS meanwhile: drawn below
 * the machine's ephemeral range, from which the OS takes the port of every bind to port 0 and of every
 * outgoing connection. A port of that range can be taken between this answer and the caller's own bind:
 * the Temporal dev server, started before the other processes of a stack, binds two such ports of its
 * own choosing for its internal services (a benchmark's login once got an empty 404 from another server
 * on the api's port). The OS's own choice where the range leaves no room below it.
 */
export async function freePort(): Promise<number> {
  const end = ephemeralStart();
  for (let i = 0; end - DRAWN_FROM >= 1000 && i < 100; i++) {
    const port = randomInt(DRAWN_FROM, end);
    if (handedOut.has(port) || (await bindable(port)) === undefined) continue;
    handedOut.add(port);
    return port;
  }
  const port = await bindable(0);
  if (port === undefined) throw new Error('no free TCP port');
  handedOut.add(port);
  return port;
}

export interface Supervised {
  name: string;
  /** The process running now: a new one after each restart. */
  current(): Managed;
  /** How many times it was restarted. */
  restarts(): number;
  /** Stop for good: no restart after this. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/**
 * Keep a process running: when it exits (crash, kill, OOM) start it again with `start`, after a delay
 * that grows with each quick failure (1 s, 2 s, ... up to 10 s) and is back to 1 s once a run lasted
 * 30 s. `onStart` hears of every (re)start, so a caller can wait for the new process's port.
 */
export function supervise(
  name: string,
  start: () => Managed,
  opts: { log?: (msg: string) => void; onStart?: (proc: Managed, restarts: number) => void } = {},
): Supervised {
  let proc = start();
  let restarts = 0;
  let quickFailures = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const watch = (p: Managed) => {
    const startedAt = Date.now();
    opts.onStart?.(p, restarts);
    void p.exited.then((code) => {
      if (stopped) return;
      quickFailures = Date.now() - startedAt >= 30_000 ? 1 : quickFailures + 1;
      const delay = Math.min(1000 * quickFailures, 10_000);
      opts.log?.(`${name} exited (code ${code}); restarting in ${delay} ms`);
      timer = setTimeout(() => {
        if (stopped) return;
        restarts++;
        proc = start();
        watch(proc);
      }, delay);
    });
  };
  watch(proc);
  return {
    name,
    current: () => proc,
    restarts: () => restarts,
    async stop(signal, graceMs) {
      stopped = true;
      clearTimeout(timer);
      await proc.stop(signal, graceMs);
    },
  };
}
