/**
 * I/O per accepted request for the benchmarks: each process of the stack started with IO_COUNTS=on
 * serves its totals as `app_io_operations{kind}` on its /metrics (lib/io-counts.ts); a run's counts are
 * the difference of two readings, by component, divided by the requests the run accepted. Beside them,
 * the CPU Postgres spent serving each component: its backends, told apart by the application_name each
 * process gives its connections (lib/config.ts applicationName).
 */
import { IO_KINDS, type IoKind } from '../../lib/io-counts.js';
import { addTicks, cpuTicks, TICKS_PER_SECOND, type Ticks } from './cpu.js';
import { markdownTable } from './report.js';
import { type PerRequestRun, poolRuns } from './segments.js';

/** The processes' own counts, and `postgres_ms`: CPU milliseconds of the backends serving the component. */
type Figures = Record<IoKind | 'postgres_ms', number>;
export type IoTotals = Map<string, Figures>;

/** A reading: the processes' counts by component, and every Postgres backend's ticks (`<component>#<pid>`). */
export interface IoReading {
  totals: IoTotals;
  postgres: Ticks;
}

export interface MetricsEndpoint {
  /** The component (api, trading, matching, outbox): processes of one component are added up. */
  name: string;
  url: string;
}

const zeros = (): Figures => Object.fromEntries([...IO_KINDS, 'postgres_ms'].map((k) => [k, 0])) as Figures;

/** The `app_io_operations` samples of a Prometheus text page, by kind (none when counting is off). */
export function parseIoTotals(text: string): Figures | undefined {
  let found = false;
  const out = zeros();
  for (const m of text.matchAll(/^app_io_operations\{[^}]*\bkind="(\w+)"[^}]*\}\s+(\S+)$/gm)) {
    const kind = m[1] as IoKind;
    if (!IO_KINDS.includes(kind)) continue;
    out[kind] += Number(m[2]);
    found = true;
  }
  return found ? out : undefined;
}

/** Read every endpoint; a process that does not answer or does not count is left out. */
export async function readIoTotals(endpoints: readonly MetricsEndpoint[]): Promise<IoTotals> {
  const out: IoTotals = new Map();
  await Promise.all(
    endpoints.map(async (e) => {
      const text = await fetch(e.url)
        .then((r) => (r.ok ? r.text() : ''))
        .catch(() => '');
      const totals = parseIoTotals(text);
      if (!totals) return;
      const into = out.get(e.name) ?? zeros();
      for (const k of IO_KINDS) into[k] += totals[k];
      out.set(e.name, into);
    }),
  );
  return out;
}

export interface IoRun {
  label: string;
  ok: number;
  /** Operations per accepted request, by component and kind. */
  perRequest: IoTotals;
}

/**
 * Which component a Postgres backend serves, from its connection's application_name (`<prefix><component>…`,
 * lib/config.ts applicationName): undefined for any other client (the benchmark's own, Temporal's).
 */
export function clientComponent(
  applicationName: string,
  prefix: string,
  components: readonly string[],
): string | undefined {
  if (!applicationName.startsWith(prefix)) return undefined;
  const name = applicationName.slice(prefix.length);
  return components.find((c) => name.startsWith(c));
}

/** The ticks of every Postgres backend serving one of `components`, keyed `<component>#<pid>`. */
export async function postgresTicksByClient(
  backends: () => Promise<readonly { pid: number; application_name: string | null }[]>,
  prefix: string,
  components: readonly string[],
): Promise<Ticks> {
  const out: Ticks = new Map();
  for (const b of await backends()) {
    const component = clientComponent(b.application_name ?? '', prefix, components);
    if (component) out.set(`${component}#${b.pid}`, cpuTicks(b.pid));
  }
  return out;
}

/** The counts of one run, per accepted request. */
export function ioRun(label: string, ok: number, before: IoReading, after: IoReading): IoRun {
  const perRequest: IoTotals = new Map();
  const postgres: Ticks = new Map();
  addTicks(postgres, before.postgres, after.postgres);
  for (const [name, a] of after.totals) {
    const b = before.totals.get(name) ?? zeros();
    const per = zeros();
    for (const k of IO_KINDS) per[k] = (a[k] - b[k]) / Math.max(1, ok);
    per.postgres_ms = ((postgres.get(name) ?? 0) * (1000 / TICKS_PER_SECOND)) / Math.max(1, ok);
    perRequest.set(name, per);
  }
  return { label, ok, perRequest };
}

/**
 * Counters read before and after each step run through it, kept per accepted request as `R` (nothing
 * when a reading finds no counters): the stack's I/O counts here, Temporal's server in temporal-server.ts.
 */
export class CounterAccount<C, R extends PerRequestRun> {
  readonly runs: R[] = [];

  constructor(
    private readonly read: () => Promise<C | undefined>,
    private readonly perRequest: (label: string, ok: number, before: C, after: C) => R,
  ) {}

  async measure<T extends { label: string; ok: number }>(step: () => Promise<T>): Promise<T> {
    const before = await this.read();
    const result = await step();
    const after = before && (await this.read());
    if (before && after) this.runs.push(this.perRequest(result.label, result.ok, before, after));
    return result;
  }

  pool(label: string): void {
    poolRuns(this.runs, label);
  }
}

export type IoAccount = CounterAccount<IoReading, IoRun>;

/**
 * Accounts the I/O of the steps run through it (nothing when no process counts); `postgres` reads the
 * ticks of the backends serving each component (postgresTicksByClient).
 */
export const ioAccount = (
  endpoints: () => readonly MetricsEndpoint[],
  postgres: () => Promise<Ticks>,
): IoAccount =>
  new CounterAccount(async () => {
    const [totals, ticks] = await Promise.all([readIoTotals(endpoints()), postgres()]);
    return totals.size > 0 ? { totals, postgres: ticks } : undefined;
  }, ioRun);

const KIND_TITLES: Record<IoKind, string> = {
  postgres_statements: 'Postgres statements',
  temporal_calls: 'Temporal client calls',
  redis_commands: 'Redis commands',
  redis_publishes: 'Redis publishes',
  mails: 'mails',
};

/** One row per run and component, a column per kind, per accepted request. */
export function ioTable(runs: readonly IoRun[]): string[] {
  return markdownTable(
    ['run', 'component', ...IO_KINDS.map((k) => KIND_TITLES[k]), 'Postgres CPU ms (its connections)'],
    runs.flatMap((r) =>
      [...r.perRequest]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, per]) => [
          r.label,
          name,
          ...IO_KINDS.map((k) => per[k].toFixed(2)),
          per.postgres_ms.toFixed(2),
        ]),
    ),
  );
}
