/**
 * Temporal's server work per accepted request, from the server's own Prometheus counters (the dev
 * server's metrics port; the cluster's server on compose's PROMETHEUS_ENDPOINT): the workflow and
 * activity tasks it dispatched, the timer tasks it fired (nearly all of them timeouts of tasks already
 * done), the tasks whose timeout did expire (a workflow task or an activity that took too long: its
 * work is thrown away and done again, and its saga waits at least that long) and its persistence
 * requests. Read before and after a run; the difference divided by the requests the run accepted. It
 * shows whether two runs asked the same of Temporal per order, and that no run was charged another's
 * deferred timers (bench-e2e.ts, STEADY_MS).
 */
import { CounterAccount } from './io-counts.js';
import { markdownTable } from './report.js';

export const SERVER_KINDS = [
  'workflowTasks',
  'activityTasks',
  'timerTasks',
  'timedOut',
  'persistenceRequests',
] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];
export type ServerTotals = Record<ServerKind, number>;

const COUNTERS: { kind: ServerKind; pattern: RegExp }[] = [
  { kind: 'workflowTasks', pattern: /^poll_success\{[^}]*\btask_type="Workflow"[^}]*\}\s+(\S+)$/gm },
  { kind: 'activityTasks', pattern: /^poll_success\{[^}]*\btask_type="Activity"[^}]*\}\s+(\S+)$/gm },
  { kind: 'timerTasks', pattern: /^task_attempt_count\{[^}]*\btask_type="TimerActive\w*"[^}]*\}\s+(\S+)$/gm },
  {
    kind: 'timedOut',
    pattern: /^(?:start_to_close|schedule_to_start|schedule_to_close)_timeout\{[^}]*\}\s+(\S+)$/gm,
  },
  { kind: 'persistenceRequests', pattern: /^persistence_requests\{[^}]*\}\s+(\S+)$/gm },
];

/** The server's totals from its Prometheus text page (undefined when it has none of them). */
export function parseServerTotals(text: string): ServerTotals | undefined {
  let found = false;
  const out = Object.fromEntries(SERVER_KINDS.map((k) => [k, 0])) as ServerTotals;
  for (const { kind, pattern } of COUNTERS)
    for (const m of text.matchAll(pattern)) {
      out[kind] += Number(m[1]);
      found = true;
    }
  return found ? out : undefined;
}

export interface ServerRun {
  label: string;
  ok: number;
  /** Server work per accepted request, by kind. */
  perRequest: ServerTotals;
}

/** The server's work of one run, per accepted request. */
export function serverRun(label: string, ok: number, before: ServerTotals, after: ServerTotals): ServerRun {
  const perRequest = { ...after };
  for (const k of SERVER_KINDS) perRequest[k] = (after[k] - before[k]) / Math.max(1, ok);
  return { label, ok, perRequest };
}

export type ServerAccount = CounterAccount<ServerTotals, ServerRun>;

/** Accounts the server's work in the steps run through it (nothing when the server does not answer). */
export const serverAccount = (url: string): ServerAccount =>
  new CounterAccount(
    () =>
      fetch(url)
        .then((r) => (r.ok ? r.text() : ''))
        .then(parseServerTotals, () => undefined),
    serverRun,
  );

/** One row per run, per accepted request. */
export function serverTable(runs: readonly ServerRun[]): string[] {
  return markdownTable(
    [
      'run',
      'workflow tasks',
      'activity tasks',
      'timer tasks fired',
      'tasks timed out',
      'persistence requests',
    ],
    runs.map((r) => [r.label, ...SERVER_KINDS.map((k) => r.perRequest[k].toFixed(2))]),
  );
}
