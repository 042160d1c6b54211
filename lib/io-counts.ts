/**
 * I/O counts per process, for the benchmarks' "per order" figures (IO_COUNTS=on; off by default): the
 * Postgres statements a process sends (BEGIN, COMMIT, SAVEPOINT and RELEASE included), its Temporal
 * client calls (starts, updates, signals, queries), its Redis commands and publishes, and the mails it
 * sends. Every process counts its own and serves the totals on its /metrics as `app_io_operations`.
 *
 * Off, nothing is wrapped: the database client, the Temporal client, Redis and the mailer are exactly
 * what they are without it, so timing runs pay nothing. On, a count is an integer increment (no stack
 * capture, no label lookup on the hot path).
 */
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { Gauge, type Registry } from 'prom-client';

export const IO_KINDS = [
  'postgres_statements',
  'temporal_calls',
  'redis_commands',
  'redis_publishes',
  'mails',
] as const;
export type IoKind = (typeof IO_KINDS)[number];

let counts: Record<IoKind, number> | undefined;

/** Start counting (once, at process start, before the clients are built). */
export function enableIoCounts(): void {
  counts ??= Object.fromEntries(IO_KINDS.map((k) => [k, 0])) as Record<IoKind, number>;
}

export const ioCountsEnabled = (): boolean => counts !== undefined;

export function countIo(kind: IoKind, n = 1): void {
  if (counts) counts[kind] += n;
}

/** The totals so far (zeros when counting is off). */
export function ioTotals(): Record<IoKind, number> {
  return { ...(counts ?? (Object.fromEntries(IO_KINDS.map((k) => [k, 0])) as Record<IoKind, number>)) };
}

/** Serve the totals on the process's registry (`app_io_operations{kind}`), when counting is on. */
export function registerIoCounts(registry: Registry): void {
  if (!counts) return;
  new Gauge({
    name: 'app_io_operations',
    help: 'I/O operations this process made since it started, by kind (IO_COUNTS=on only)',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      for (const [kind, n] of Object.entries(ioTotals())) this.set({ kind }, n);
    },
  });
}

/** The Temporal client's interceptors that count its calls: none when counting is off. */
export function ioCountingInterceptors(): { workflow: WorkflowClientInterceptor[] } | undefined {
  if (!counts) return undefined;
  const counted =
    <A, R>(call: (input: A, next: (input: A) => R) => R) =>
    (input: A, next: (input: A) => R): R => {
      countIo('temporal_calls');
      return call(input, next);
    };
  const pass = <A, R>(input: A, next: (input: A) => R) => next(input);
  return {
    workflow: [
      {
        startWithDetails: counted(pass),
        startUpdate: counted(pass),
        startUpdateWithStart: counted(pass),
        signal: counted(pass),
        signalWithStart: counted(pass),
        query: counted(pass),
        terminate: counted(pass),
        cancel: counted(pass),
        describe: counted(pass),
      },
    ],
  };
}
