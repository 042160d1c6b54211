/**
 * Runs measured in segments: two or more runs take turns, in the order given and then reversed (A B,
 * B A, A B, ...), so that a drift of the machine's speed during the benchmark weighs on all of them
 * alike (with A B every round, B always runs later than A, and a machine that slows as Temporal's and
 * Postgres' data grow counts against B alone), and each run's segments are pooled
 * into one figure. Every meter (CPU, I/O counts, Temporal's server) records each segment as its own run
 * of per-request figures; `poolRuns` merges a label's segments into one, weighted by the requests each
 * accepted, which is exactly the figure of one run over all of them (a per-request figure is a total
 * divided by the accepted requests).
 */
import { type Fire, openLoopRun, type Run, type Summary, summarize } from './drivers.js';

/** A per-request figure: a number, or records and maps of them (by component, by kind). */
export type PerRequest = number | ReadonlyMap<string, PerRequest> | { readonly [k: string]: PerRequest };

/** A meter's record of one run. */
export interface PerRequestRun {
  label: string;
  ok: number;
  perRequest: PerRequest;
}

/** What measures a step and keeps a record per step (CpuAccount, CounterAccount). */
export interface Meter {
  measure<T extends { label: string; ok: number }>(step: () => Promise<T>): Promise<T>;
  /** Merge the records of `label`'s segments into one, where the first of them was. */
  pool(label: string): void;
}

/** Figures of the same shape averaged with weights (the accepted requests of each). */
export function weightedMean<T extends PerRequest>(parts: readonly { value: T; weight: number }[]): T {
  const total = parts.reduce((n, p) => n + p.weight, 0) || 1;
  const mean = (values: readonly { value: PerRequest; weight: number }[]): PerRequest => {
    const first = values[0]!.value;
    if (typeof first === 'number')
      return values.reduce((n, p) => n + (p.value as number) * p.weight, 0) / total;
    const keys = new Set(values.flatMap((p) => [...entries(p.value)].map(([k]) => k)));
    const pick = (k: string) =>
      values.flatMap((p) => {
        const v = lookup(p.value, k);
        return v === undefined ? [] : [{ value: v, weight: p.weight }];
      });
    const merged = [...keys].map((k) => [k, mean(pick(k))] as const);
    return first instanceof Map ? new Map(merged) : Object.fromEntries(merged);
  };
  return mean(parts) as T;
}

type PerKey = ReadonlyMap<string, PerRequest>;
const entries = (v: PerRequest): Iterable<[string, PerRequest]> =>
  v instanceof Map ? (v as PerKey).entries() : Object.entries(v as Record<string, PerRequest>);
const lookup = (v: PerRequest, k: string): PerRequest | undefined =>
  v instanceof Map ? (v as PerKey).get(k) : (v as Record<string, PerRequest>)[k];

/** Replace the runs labelled `label` by one: their accepted requests added, their figures weighted by them. */
export function poolRuns<R extends PerRequestRun>(runs: R[], label: string): void {
  const parts = runs.filter((r) => r.label === label);
  if (parts.length < 2) return;
  const ok = parts.reduce((n, r) => n + r.ok, 0);
  const perRequest = weightedMean(parts.map((r) => ({ value: r.perRequest, weight: Math.max(1, r.ok) })));
  const at = runs.indexOf(parts[0]!);
  runs[at] = { ...parts[0]!, ok, perRequest };
  for (let i = runs.length - 1; i > at; i--) if (runs[i]!.label === label) runs.splice(i, 1);
}

export interface Segmented {
  label: string;
  /** Unmeasured work before each segment (a warm-up into the run's own steady state). */
  prepare?: () => Promise<unknown>;
  /** One segment of the run. */
  segment: () => Promise<Run>;
  /** Unmeasured work after each segment, once its meters are read (stopping a load that ran through it). */
  finish?: () => Promise<unknown>;
  meters: readonly Meter[];
}

/** A run of several segments: their pooled summary, and each segment's throughput in the order run. */
export type Interleaved = Summary & { rounds: number[] };

/**
 * The runs interleaved in `rounds` rounds of one segment each (every other round in reverse order),
 * every run's segments pooled; `rounds` of each keeps its segments' throughputs, so that a ratio of two
 * runs can be read round by round too.
 */
export async function interleaved(rounds: number, runs: readonly Segmented[]): Promise<Interleaved[]> {
  const pooled: Run[] = runs.map((r) => ({ label: r.label, seconds: 0, samples: [] }));
  const each: number[][] = runs.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const turns = [...runs.entries()];
    for (const [i, r] of round % 2 === 0 ? turns : turns.reverse()) {
      await r.prepare?.();
      const step = async () => {
        const run = await r.segment();
        const { ok, throughput } = summarize(run);
        return { label: r.label, ok, throughput, run };
      };
      const measured = r.meters.reduceRight<typeof step>((inner, m) => () => m.measure(inner), step);
      const { run, throughput } = await measured().finally(() => r.finish?.());
      each[i]!.push(throughput);
      pooled[i]!.seconds += run.seconds;
      pooled[i]!.samples.push(...run.samples);
    }
  }
  for (const r of runs) for (const m of r.meters) m.pool(r.label);
  return pooled.map((run, i) => ({ ...summarize(run), rounds: each[i]! }));
}

/** `a`'s throughput over `b`'s, round by round, in percent: `74%, 68%`. */
export const roundRatios = (a: Interleaved, b: Interleaved): string =>
  a.rounds.map((x, i) => `${((100 * x) / (b.rounds[i] ?? NaN)).toFixed(0)}%`).join(', ');

/** Open loops at one rate, interleaved in `rounds` segments that add up to `seconds` each. */
export function interleavedOpenLoops(
  rate: number,
  seconds: number,
  rounds: number,
  loops: readonly { label: string; fire: Fire }[],
  meters: readonly Meter[],
): Promise<Interleaved[]> {
  return interleaved(
    rounds,
    loops.map((l) => ({
      label: l.label,
      segment: () => openLoopRun(l.label, rate, seconds / rounds, l.fire),
      meters,
    })),
  );
}
