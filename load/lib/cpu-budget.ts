/**
 * Where the real flow's CPU per order stands against the budget a throughput target leaves it (issue 23):
 * on two cores both flows are CPU-bound at saturation, so the real flow reaches `share` of the no-op
 * saga's throughput when its CPU per order is at most the no-op saga's divided by `share`. Pure.
 */
import { markdownTable } from './report.js';

/** Postgres' CPU on the backends of Temporal's databases (the cluster's server keeps its state there). */
export const TEMPORAL_POSTGRES = 'postgres: temporal';
/** Temporal's server: its process, and on the cluster its databases' Postgres backends. */
const SERVER = ['temporal', TEMPORAL_POSTGRES];
/** What Temporal and the empty saga cost, and the load: not the application's. */
const NOT_APPLICATION = new Set([...SERVER, 'baseline', 'trading', 'load generator']);

export interface CpuBudget {
  /** CPU ms per order of every component: the real flow, the no-op saga. */
  real: number;
  noop: number;
  /** The most the real flow may take per order for `share` of the no-op saga's throughput. */
  allowed: number;
  /** real - allowed: what has to go (0 or less when the budget is kept). */
  over: number;
  /**
   * The application's CPU per order, largest first: every process the no-op saga does not run, and the
   * trading worker beyond the no-op saga's worker (`baseline`), which runs the same saga with empty steps.
   */
  application: { component: string; ms: number }[];
  applicationMs: number;
  /** applicationMs / noop: comparable across machines. */
  applicationShare: number;
  /**
   * What `share` leaves the application if everything else costs the real flow what it costs the no-op
   * saga (allowed - noop), and everything else's difference (real - noop - applicationMs), of which
   * Temporal's server's. `over` = (applicationMs - applicationAllowance) + elsewhere: the server's part
   * moves from run to run (both flows run the same saga on it), the application's is its own.
   */
  applicationAllowance: number;
  elsewhere: number;
  server: number;
}

const total = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

export function cpuBudget(
  real: ReadonlyMap<string, number>,
  noop: ReadonlyMap<string, number>,
  share = 0.8,
): CpuBudget {
  const [r, n] = [total(real), total(noop)];
  const application = [
    ...[...real].filter(([c]) => !NOT_APPLICATION.has(c)).map(([component, ms]) => ({ component, ms })),
    {
      component: 'trading worker beyond the no-op saga’s',
      ms: Math.max(0, (real.get('trading') ?? 0) - (noop.get('baseline') ?? 0)),
    },
  ].sort((a, b) => b.ms - a.ms);
  const applicationMs = application.reduce((a, x) => a + x.ms, 0);
  const allowed = n / share;
  const serverMs = (m: ReadonlyMap<string, number>) => SERVER.reduce((a, c) => a + (m.get(c) ?? 0), 0);
  return {
    real: r,
    noop: n,
    allowed,
    over: r - allowed,
    application,
    applicationMs,
    applicationShare: n > 0 ? applicationMs / n : Number.NaN,
    applicationAllowance: allowed - n,
    elsewhere: r - n - applicationMs,
    server: serverMs(real) - serverMs(noop),
  };
}

/**
 * The report's section: the budget, what the real flow is over it, and the application's CPU by
 * component. `before`: the application's share of the
 * no-op saga's CPU in the "before" run, when the report compares with it.
 */
export function budgetSection(
  b: CpuBudget,
  share: number,
  before?: { share: number; run: string },
): string[] {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
  // The sign of the figure as printed: a difference that rounds to 0.0 reads +0.0, never −0.0.
  const signed = (v: number) => `${v < 0 && ms(-v) !== ms(0) ? '−' : '+'}${ms(Math.abs(v))}`;
  return [
    `The real flow took ${ms(b.real)} of CPU per accepted order at saturation, the no-op saga ${ms(b.noop)}. ` +
      `With both flows bound by the two cores, ${pct(share)} of the no-op saga's throughput allows ${ms(b.allowed)} per order: ` +
      (b.over > 0
        ? `the real flow is **${ms(b.over)} over** it, ${pct(b.over / b.applicationMs)} of the application's own ${ms(b.applicationMs)}.`
        : `the real flow is ${ms(-b.over)} under it.`),
    '',
    `If everything else cost the real flow what it costs the no-op saga, that would leave the application ` +
      `${ms(b.applicationAllowance)} per order; it took ${ms(b.applicationMs)}, ` +
      (b.applicationMs > b.applicationAllowance
        ? `**${ms(b.applicationMs - b.applicationAllowance)} over**. `
        : `${ms(b.applicationAllowance - b.applicationMs)} under. `) +
      `Everything else took ${signed(b.elsewhere)} per order in the real flow's turns against the no-op saga's, ` +
      `Temporal's server ${signed(b.server)}: the server runs the same saga for both flows, so its part moves ` +
      `from run to run (docs/benchmarks/README.md).`,
    '',
    `The application's CPU per order is ${b.applicationShare.toFixed(2)} of the no-op saga's` +
      (before
        ? ` (the "before" run, ${before.run}: ${before.share.toFixed(2)}; ${pct(1 - b.applicationShare / before.share)} under it, where the issue asks for 30%).`
        : '.') +
      ' Where it goes:',
    '',
    ...markdownTable(
      ['component', 'ms per order', 'share of the application'],
      b.application.map((a) => [a.component, a.ms.toFixed(1), pct(a.ms / b.applicationMs)]),
    ),
  ];
}
