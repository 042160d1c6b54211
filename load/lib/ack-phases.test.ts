import { describe, expect, it } from 'vitest';
import { ackPhaseTable, phasesOf, type HistoryEvent, type Phases } from './ack-phases.js';

/** An event at `ms` after a whole second, with one attribute set (as the SDK's decoded history has it). */
const at = (attribute: keyof HistoryEvent, ms: number): HistoryEvent => ({
  eventTime: { seconds: { toNumber: () => 1_780_000_000 }, nanos: ms * 1e6 },
  [attribute]: {},
});

// A saga's history up to its ACK, in the order the server writes it (times in ms after the start).
const history: HistoryEvent[] = [
  at('workflowExecutionStartedEventAttributes', 0),
  at('workflowTaskStartedEventAttributes', 2.5),
  at('workflowTaskCompletedEventAttributes', 9),
  at('activityTaskScheduledEventAttributes', 9),
  at('activityTaskStartedEventAttributes', 11),
  at('activityTaskCompletedEventAttributes', 17),
  at('workflowTaskStartedEventAttributes', 18),
  at('workflowTaskCompletedEventAttributes', 20),
  at('workflowExecutionUpdateCompletedEventAttributes', 20),
];

describe('phasesOf', () => {
  it('splits the client’s ACK time by the saga’s first events of each kind, the rest being outside the saga', () => {
    const p = phasesOf({ workflowId: 'w', ms: 26 }, history)!;
    expect(p.toWorker).toBeCloseTo(2.5, 6);
    expect(p.firstTask).toBeCloseTo(6.5, 6);
    expect(p.toMatching).toBeCloseTo(2, 6);
    expect(p.submit).toBeCloseTo(6, 6);
    expect(p.ackTask).toBeCloseTo(3, 6);
    expect(p.outside).toBeCloseTo(6, 6);
    const sum = Object.values(p).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(26, 6);
  });

  it('reads plain-number seconds as well as Long ones', () => {
    const plain = history.map((e) => ({
      ...e,
      eventTime: { seconds: 1_780_000_000, nanos: e.eventTime!.nanos },
    }));
    expect(phasesOf({ workflowId: 'w', ms: 26 }, plain)).toEqual(
      phasesOf({ workflowId: 'w', ms: 26 }, history),
    );
  });

  it('has no phases for a saga without a submit (rejected before it) or not yet ACKed', () => {
    const rejected = history.filter((e) => !e.activityTaskScheduledEventAttributes);
    expect(phasesOf({ workflowId: 'w', ms: 26 }, rejected)).toBeUndefined();
    expect(phasesOf({ workflowId: 'w', ms: 26 }, history.slice(0, -1))).toBeUndefined();
  });
});

describe('ackPhaseTable', () => {
  const phases = (outside: number, firstTask: number): Phases => ({
    outside,
    toWorker: 1,
    firstTask,
    toMatching: 1,
    submit: 2,
    ackTask: 1,
  });

  it('gives each phase’s median and p95 for both flows and the real flow’s excess, then the whole ACK', () => {
    const noop = Array.from({ length: 20 }, (_, i) => phases(2, 1 + i / 10));
    const real = Array.from({ length: 20 }, (_, i) => phases(5, 4 + i / 10));
    const rows = ackPhaseTable(noop, real);
    // The cells after the phase: no-op p50, real p50, excess, no-op p95, real p95, excess.
    const row = (start: string) =>
      rows
        .find((r) => r.startsWith(`| ${start}`))!
        .split('|')
        .slice(2, -1)
        .map((c) => c.trim());
    // Nearest rank: the median of 20 values is the 11th, the p95 the 20th.
    expect(row('first workflow task')).toEqual(['2.0', '5.0', '3.0', '2.9', '5.9', '3.0']);
    expect(row('client, api and network')).toEqual(['2.0', '5.0', '3.0', '2.0', '5.0', '3.0']);
    expect(row('the whole ACK')).toEqual(['9.0', '15.0', '6.0', '9.9', '15.9', '6.0']);
  });
});
