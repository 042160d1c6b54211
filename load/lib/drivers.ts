/**
 * Load drivers that time every request: an open loop (a fixed arrival rate, whatever the answers do)
 * and a closed loop (virtual users, each sending its next request when the previous one answered), and
 * the summary of a run (status classes, throughput, latency percentiles, the api instance that answered
 * each request) as a markdown table.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { headerOf, type Answer } from './http.js';
import { nearestRankOf } from './percentiles.js';
import { markdownTable } from './report.js';

export interface Sample {
  ms: number;
  /** HTTP status; 0 when the request threw. */
  status: number;
  /** Seconds a 429 asked the client to wait. */
  retryAfter?: number;
  /** The api instance that answered (X-Instance); `nginx` for an answer of nginx's own (502, 504). */
  instance?: string;
}

/** What one request returned: the status, or the answer itself (for its headers). */
export type Fire = () => Promise<number | Answer>;

export interface Run {
  label: string;
  seconds: number;
  samples: Sample[];
}

export interface Summary {
  label: string;
  sent: number;
  ok: number;
  /** 429 answers. */
  shed: number;
  /** 5xx answers and requests that threw. */
  errors5xx: number;
  /** Those by status (`threw` for a request without an answer). */
  statuses5xx: Record<string, number>;
  /** 3xx and 4xx other than 429. */
  other: number;
  /** 2xx per second. */
  throughput: number;
  /** Latency of the 2xx answers, ms (nearest rank; NaN without any). */
  p50: number;
  p95: number;
  p99: number;
  /** Requests answered per api instance, whatever the status (only for fires that return the answer). */
  byInstance: Record<string, number>;
  /** The 2xx answers among them. */
  okByInstance: Record<string, number>;
}

export function summarize(r: Run): Summary {
  const ok = r.samples.filter((s) => s.status >= 200 && s.status < 300);
  const lat = ok.map((s) => s.ms);
  const failed = r.samples.flatMap((s) =>
    s.status === 0 ? ['threw'] : s.status >= 500 ? [String(s.status)] : [],
  );
  return {
    label: r.label,
    sent: r.samples.length,
    ok: ok.length,
    shed: r.samples.filter((s) => s.status === 429).length,
    errors5xx: failed.length,
    statuses5xx: countBy(failed),
    other: r.samples.filter((s) => s.status >= 300 && s.status !== 429 && s.status < 500).length,
    throughput: ok.length / r.seconds,
    p50: nearestRankOf(lat, 0.5),
    p95: nearestRankOf(lat, 0.95),
    p99: nearestRankOf(lat, 0.99),
    byInstance: countBy(r.samples.flatMap((s) => (s.instance ? [s.instance] : []))),
    okByInstance: countBy(ok.flatMap((s) => (s.instance ? [s.instance] : []))),
  };
}

/** How often each value occurs. */
export function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** Counts added up per key. */
export function addCounts(counts: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of counts) for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Each key's share of the total, in percent. */
export function shares(counts: Record<string, number>): Record<string, number> {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, (100 * v) / total]));
}

/** A run's 5xx count, with their statuses when there are any: `2 (1 × 503, 1 × threw)`. */
export function fiveXx(s: Pick<Summary, 'errors5xx' | 'statuses5xx'>): string {
  const statuses = Object.entries(s.statuses5xx).map(([status, n]) => `${n} × ${status}`);
  return statuses.length ? `${s.errors5xx} (${statuses.join(', ')})` : String(s.errors5xx);
}

/** Summaries as a markdown table, one row each (the 5xx by status). */
export function summaryTable(summaries: readonly Summary[]): string[] {
  return markdownTable(
    ['run', 'sent', 'ok', '429', '5xx', 'ok/s', 'p50 ms', 'p95 ms', 'p99 ms'],
    summaries.map((s) => [
      s.label,
      s.sent,
      s.ok,
      s.shed,
      fiveXx(s),
      s.throughput.toFixed(1),
      s.p50.toFixed(0),
      s.p95.toFixed(0),
      s.p99.toFixed(0),
    ]),
  );
}

export async function timed(fire: Fire): Promise<Sample> {
  const t0 = performance.now();
  try {
    const out = await fire();
    if (typeof out === 'number') return { ms: performance.now() - t0, status: out };
    const retryAfter = Number(headerOf(out, 'retry-after') ?? NaN);
    return {
      ms: performance.now() - t0,
      status: out.status,
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined,
      instance: headerOf(out, 'x-instance') ?? (headerOf(out, 'x-upstream-server') ? 'nginx' : undefined),
    };
  } catch {
    return { ms: performance.now() - t0, status: 0 };
  }
}

/** Open loop: start one request every 1/rate s for `seconds`, whatever the answers do. */
export async function openLoopRun(label: string, rate: number, seconds: number, fire: Fire): Promise<Run> {
  const inflight: Promise<Sample>[] = [];
  const t0 = performance.now();
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    inflight.push(timed(fire));
  }
  const samples = await Promise.all(inflight);
  return { label, seconds: (performance.now() - t0) / 1000, samples };
}

export async function openLoop(label: string, rate: number, seconds: number, fire: Fire): Promise<Summary> {
  return summarize(await openLoopRun(label, rate, seconds, fire));
}

/**
 * Closed loop: virtual users, each sending its next request when the previous one answered; after a 429
 * a user waits as long as its Retry-After says. The users keep going until `stop()`, so a window measured
 * while they run sees the loop as it runs: requests in flight at its start and at its end, and users
 * waiting out a Retry-After, belong to the load around it, not to a crowd started or drained for it.
 * `growTo` adds users to the running crowd (the stress ramp).
 */
export interface ClosedLoop {
  /** The answers that arrive in the next `seconds`, as a run of that length. */
  window(label: string, seconds: number): Promise<Run>;
  /** Add users until the crowd is `users` strong. */
  growTo(users: number): void;
  /** Stop the users: those waiting out a Retry-After at once, the others when their request answers. */
  stop(): Promise<void>;
}

export function startClosedLoop(users: number, fire: Fire): ClosedLoop {
  const stopping = new AbortController();
  // Every user waiting out a Retry-After listens to it: hundreds at once in the stress ramp.
  setMaxListeners(0, stopping.signal);
  const running: Promise<void>[] = [];
  let record: ((s: Sample) => void) | undefined;
  const user = async () => {
    while (!stopping.signal.aborted) {
      const s = await timed(fire);
      record?.(s);
      // A pause is not a request in flight.
      if (s.status === 429)
        await sleep((s.retryAfter ?? 1) * 1000, undefined, { signal: stopping.signal }).catch(
          () => undefined,
        );
    }
  };
  const growTo = (n: number) => {
    while (running.length < n) running.push(user());
  };
  growTo(users);
  return {
    async window(label, seconds) {
      const samples: Sample[] = [];
      record = (s) => samples.push(s);
      const t0 = performance.now();
      await sleep(seconds * 1000);
      record = undefined;
      return { label, seconds: (performance.now() - t0) / 1000, samples };
    },
    growTo,
    async stop() {
      stopping.abort();
      await Promise.all(running);
    },
  };
}

/** A closed loop of `users` for `seconds`, measured from its start, then stopped. */
export async function closedLoop(
  label: string,
  users: number,
  seconds: number,
  fire: Fire,
): Promise<Summary> {
  const loop = startClosedLoop(users, fire);
  try {
    return summarize(await loop.window(label, seconds));
  } finally {
    await loop.stop();
  }
}
