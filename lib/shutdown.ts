/**
 * How long a process may take to stop after its first signal (SHUTDOWN_TIMEOUT_MS): below compose's
 * `stop_grace_period` (20 s) and the grace `npm start` gives each process (devstack/processes.ts), so a
 * process whose dependency hangs says so and exits on its own before it is killed. 18 s leaves the api's
 * own steps room (in production 2 s of socket grace, 5 s for the load balancer, up to 10 s for the mailer).
 */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 18_000;

export interface ShutdownOptions {
  /** After the first signal, exit 1 if `stop` has not finished by then (a dependency that hangs). */
  timeoutMs?: number;
  /** `process.exit` (tests replace it). */
  exit?: (code: number) => void;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
/** The boot's signal handler (`exitWhileStarting`), until `onShutdown` takes over. */
let starting: ((signal: NodeJS.Signals) => void) | undefined;

/**
 * Until `onShutdown`, a SIGTERM or SIGINT ends the boot where it is (migrating, connecting to Postgres,
 * Redis or Temporal, bundling the workflows, creating the worker): exit 0 at once, and nothing after the
 * step in progress runs. What the boot acquired goes with the process: its sockets close, so Postgres
 * ends its sessions (their advisory locks are released, a migration's transaction is rolled back) and its
 * ports are free again; nothing has served yet that a stop would have to finish. Without it, Node dies of
 * the signal (exit 143, not a line said). Processes call it first, before they connect to anything.
 */
export function exitWhileStarting(
  log: (msg: string) => void,
  { exit = (code) => process.exit(code) }: Pick<ShutdownOptions, 'exit'> = {},
): void {
  starting = (signal) => {
    log(`${signal} received while starting, exiting`);
    exit(0);
  };
  for (const s of SIGNALS) process.on(s, starting);
}

/**
 * Run `stop` once on SIGTERM or SIGINT, then exit 0 (1 when it fails); a second signal exits 1 at once,
 * and so does a `stop` still running after `timeoutMs` (an unanswered Redis or Postgres call would
 * otherwise hold the process until it is killed). Replaces `exitWhileStarting`'s handler: the process
 * has started.
 */
export function onShutdown(
  stop: (signal: NodeJS.Signals) => Promise<void>,
  log: (msg: string) => void,
  { timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS, exit = (code) => process.exit(code) }: ShutdownOptions = {},
): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return exit(1);
    stopping = true;
    log(`${signal} received, shutting down`);
    setTimeout(() => {
      log('shutdown timed out');
      exit(1);
    }, timeoutMs).unref();
    stop(signal).then(
      () => exit(0),
      (err: unknown) => {
        log(`shutdown failed: ${String(err)}`);
        exit(1);
      },
    );
  };
  for (const s of SIGNALS) {
    if (starting) process.off(s, starting);
    process.on(s, handler);
  }
  starting = undefined;
}
