/**
 * Where an order's ACK time goes, phase by phase: each ACK the load generator timed, split by the event
 * times of its saga's history (the server's clock) into what happened before the saga started and after
 * its update completed (client, api, network: the rest of the client's time) and the saga's own phases
 * up to the `placeOrder` update's completion. The no-op saga and the real flow have the same events, so
 * a phase's difference between them is what the application adds there.
 */
import { markdownTable } from './report.js';
import { nearestRankOf } from './percentiles.js';

/** What this reads of a history event (the shape of the SDK's `fetchHistory()` events). */
export interface HistoryEvent {
  eventTime?: { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null;
  workflowExecutionStartedEventAttributes?: unknown;
  workflowTaskStartedEventAttributes?: unknown;
  workflowTaskCompletedEventAttributes?: unknown;
  activityTaskScheduledEventAttributes?: unknown;
  activityTaskStartedEventAttributes?: unknown;
  activityTaskCompletedEventAttributes?: unknown;
  workflowExecutionUpdateCompletedEventAttributes?: unknown;
}

/** One ACK as the load generator saw it: the saga it started and the request's time. */
export interface AckTrace {
  workflowId: string;
  ms: number;
}

export const ACK_PHASES = [
  ['outside', 'client, api and network (the ACK time outside the saga)'],
  ['toWorker', 'saga started -> its first workflow task picked up by a trading worker'],
  ['firstTask', 'first workflow task: validate, reserve, persist (local activities)'],
  ['toMatching', 'submit scheduled -> picked up by the matching worker'],
  ['submit', 'submit: match and settle on the shard'],
  ['ackTask', 'submit completed -> the ACK (the workflow task that completes the update)'],
] as const;
export type AckPhase = (typeof ACK_PHASES)[number][0];
export type Phases = Record<AckPhase, number>;

/** A protobuf timestamp in ms, with its sub-millisecond part. */
function msOf(t: HistoryEvent['eventTime']): number | undefined {
  if (!t) return undefined;
  const s = t.seconds ?? 0;
  return (typeof s === 'number' ? s : s.toNumber()) * 1000 + (t.nanos ?? 0) / 1e6;
}

/** The events that bound the phases, in the order of a saga's history: the first of each kind counts. */
const EVENTS = [
  'workflowExecutionStartedEventAttributes',
  'workflowTaskStartedEventAttributes',
  'workflowTaskCompletedEventAttributes',
  'activityTaskScheduledEventAttributes',
  'activityTaskStartedEventAttributes',
  'activityTaskCompletedEventAttributes',
  'workflowExecutionUpdateCompletedEventAttributes',
] as const satisfies readonly (keyof HistoryEvent)[];

/**
 * The phases of one ACK from its saga's history, or undefined when the history lacks one of the events
 * (a saga rejected before its submit has no activity task).
 */
export function phasesOf(trace: AckTrace, events: readonly HistoryEvent[]): Phases | undefined {
  const times = EVENTS.map((kind) => msOf(events.find((e) => e[kind])?.eventTime));
  if (times.includes(undefined)) return undefined;
  const [started, taskStarted, taskCompleted, scheduled, activityStarted, activityCompleted, acked] =
    times as number[] as [number, number, number, number, number, number, number];
  return {
    outside: trace.ms - (acked - started),
    toWorker: taskStarted - started,
    firstTask: taskCompleted - taskStarted,
    toMatching: activityStarted - scheduled,
    submit: activityCompleted - activityStarted,
    ackTask: acked - activityCompleted,
  };
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');

/**
 * The report's table: each phase's median and p95 for the no-op saga and the real flow, and the real
 * flow's excess. Percentiles of phases do not add up to the percentile of the whole; the last row is the
 * whole ACK of the traced orders.
 */
export function ackPhaseTable(noop: readonly Phases[], real: readonly Phases[]): string[] {
  const total = (p: Phases) => ACK_PHASES.reduce((a, [k]) => a + p[k], 0);
  const rows: [string, (p: Phases) => number][] = [
    ...ACK_PHASES.map(([k, what]) => [what, (p: Phases) => p[k]] as [string, (p: Phases) => number]),
    ['the whole ACK', total],
  ];
  const q = (xs: readonly Phases[], f: (p: Phases) => number, p: number) => nearestRankOf(xs.map(f), p);
  return markdownTable(
    [
      'phase',
      'no-op saga p50',
      'real p50',
      'real - no-op p50',
      'no-op saga p95',
      'real p95',
      'real - no-op p95',
    ],
    rows.map(([what, f]) => {
      const [n50, r50, n95, r95] = [q(noop, f, 0.5), q(real, f, 0.5), q(noop, f, 0.95), q(real, f, 0.95)];
      return [what, fmt(n50), fmt(r50), fmt(r50 - n50), fmt(n95), fmt(r95), fmt(r95 - n95)];
    }),
  );
}
