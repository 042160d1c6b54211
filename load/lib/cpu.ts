/**
 * CPU sampling for the benchmarks: this process's CPU time (process.cpuUsage), and the utime + stime of
 * other processes from /proc (Linux), grouped by component.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { markdownTable } from './report.js';
import { poolRuns } from './segments.js';

/** CPU milliseconds (user + system, all threads) this process spent since `start` (process.cpuUsage()). */
export function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
export const TICKS_PER_SECOND = 100;

/** utime + stime of a process in clock ticks, 0 if it is gone. */
export function cpuTicks(pid: number | 'self'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Ticks by component name (after addTicks), or by process as `<component>#<pid>` (a reading). */
export type Ticks = Map<string, number>;

/**
 * The database a Postgres backend serves, from the title Postgres gives its process
 * (`postgres: 15/main: <user> <database> <host>(<port>) <state>`); undefined for the server's own
 * processes (checkpointer, walwriter, ...).
 */
export function postgresDatabase(title: string): string | undefined {
  return /^postgres: (?:[^:]+: )?\S+ (\S+) (?:\[local\]|[\d.:a-f]+\(\d+\))/.exec(title)?.[1];
}

/**
 * A reading of every process's ticks, keyed `<component>#<pid>`: the given processes by name, every
 * Postgres and Redis process on the machine (`redis`; Postgres' under the component `postgresOf` names
 * for the backend's database, `postgres` by default), and this process (`load generator`).
 */
export function cpuByComponent(
  processes: readonly { name: string; pid: number | undefined }[],
  postgresOf: (database: string | undefined) => string = () => 'postgres',
): Ticks {
  const out: Ticks = new Map();
  const add = (name: string, pid: number | 'self') => out.set(`${name}#${pid}`, cpuTicks(pid));
  for (const p of processes) if (p.pid) add(p.name, p.pid);
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm === 'postgres') {
      let title = '';
      try {
        title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      } catch {
        continue;
      }
      add(postgresOf(postgresDatabase(title)), Number(pid));
    } else if (comm === 'redis-server') add('redis', Number(pid));
  }
  add('load generator', 'self');
  return out;
}

/**
 * Add to `into`, by component, the ticks each process spent between two readings. A process that
 * started meanwhile counts whole; one that ended meanwhile (a closed Postgres connection's backend) is
 * left out, as its last ticks cannot be read: never a negative figure.
 */
export function addTicks(into: Ticks, before: Ticks, after: Ticks): void {
  for (const [key, v] of after) {
    const component = key.slice(0, key.lastIndexOf('#'));
    into.set(component, (into.get(component) ?? 0) + v - (before.get(key) ?? 0));
  }
}

/** The CPU every component spent on one load step, per accepted request. */
export interface CpuRun {
  label: string;
  ok: number;
  /** CPU milliseconds per accepted request, by component. */
  perRequest: Map<string, number>;
}

/** `ticks` spent on a step that `ok` requests were accepted in, as milliseconds per accepted request. */
export function cpuRun(label: string, ok: number, ticks: Ticks): CpuRun {
  const perRequest = new Map<string, number>();
  for (const [k, v] of ticks) perRequest.set(k, (v * (1000 / TICKS_PER_SECOND)) / Math.max(1, ok));
  return { label, ok, perRequest };
}

/** One row per run, a column per component (0 where it spent nothing) and the total of all components. */
export function cpuTable(runs: readonly CpuRun[], components: readonly string[]): string[] {
  return markdownTable(
    ['run', ...components, 'total'],
    runs.map((r) => {
      const total = [...r.perRequest.values()].reduce((a, b) => a + b, 0);
      return [r.label, ...components.map((c) => (r.perRequest.get(c) ?? 0).toFixed(1)), total.toFixed(1)];
    }),
  );
}

/** Accounts the CPU of the steps run through it: `sample` reads the ticks of every component. */
export class CpuAccount {
  readonly runs: CpuRun[] = [];

  constructor(private readonly sample: () => Ticks) {}

  /** Run a step and record what every component spent on it, per accepted request. */
  async measure<T extends { label: string; ok: number }>(step: () => Promise<T>): Promise<T> {
    const before = this.sample();
    const result = await step();
    const ticks: Ticks = new Map();
    addTicks(ticks, before, this.sample());
    this.runs.push(cpuRun(result.label, result.ok, ticks));
    return result;
  }

  pool(label: string): void {
    poolRuns(this.runs, label);
  }
}
