import { describe, expect, it } from 'vitest';
import { parseServerTotals, serverRun, serverTable } from './temporal-server.js';

/** Lines as Temporal's server 1.29 serves them (CLI 1.5.1's dev server and the cluster's; labels shortened). */
const page = (n: number) =>
  [
    '# TYPE poll_success counter',
    `poll_success{namespace="default",operation="TaskQueueMgr",partition="0",service_name="matching",task_type="Workflow",taskqueue="trading"} ${3 * n}`,
    `poll_success{namespace="default",operation="TaskQueueMgr",partition="0",service_name="matching",task_type="Workflow",taskqueue="bench_noop_trading"} ${2 * n}`,
    `poll_success{namespace="default",operation="TaskQueueMgr",partition="0",service_name="matching",task_type="Activity",taskqueue="matching_0"} ${n}`,
    `task_attempt_count{namespace="default",operation="TimerActiveTaskWorkflowTaskTimeout",service_name="history",task_type="TimerActiveTaskWorkflowTaskTimeout"} ${4 * n}`,
    `task_attempt_count{namespace="default",operation="TimerActiveTaskActivityTimeout",service_name="history",task_type="TimerActiveTaskActivityTimeout"} ${n}`,
    `task_attempt_count{namespace="default",operation="TransferActiveTaskWorkflowTask",service_name="history",task_type="TransferActiveTaskWorkflowTask"} ${9 * n}`,
    `task_attempt_sum{namespace="default",operation="TimerActiveTaskActivityTimeout",service_name="history",task_type="TimerActiveTaskActivityTimeout"} ${n}`,
    `start_to_close_timeout{first_attempt="true",namespace="default",operation="TimerActiveTaskWorkflowTaskTimeout",service_name="history",versioning_behavior="Unspecified"} ${2 * n}`,
    `poll_timeouts{namespace="default",operation="TaskQueueMgr",service_name="matching",task_type="Workflow"} ${50 * n}`,
    `persistence_requests{namespace="default",operation="UpdateWorkflowExecution",service_name="history"} ${7 * n}`,
    `persistence_requests{namespace="default",operation="CreateTasks",service_name="matching"} ${n}`,
    'persistence_latency_count{namespace="default",operation="CreateTasks",service_name="matching"} 99',
  ].join('\n');

describe("Temporal's server work in a benchmark run", () => {
  it('add up the dispatched tasks, fired timers, expired timeouts and persistence requests of a /metrics page', () => {
    expect(parseServerTotals(page(1))).toEqual({
      workflowTasks: 5,
      activityTasks: 1,
      timerTasks: 5,
      timedOut: 2,
      persistenceRequests: 8,
    });
    expect(parseServerTotals('process_cpu_seconds_total 1.5\n')).toBeUndefined();
  });

  it('divide the difference of two readings by the accepted requests', () => {
    const run = serverRun('orders', 10, parseServerTotals(page(1))!, parseServerTotals(page(11))!);
    expect(run.perRequest).toEqual({
      workflowTasks: 5,
      activityTasks: 1,
      timerTasks: 5,
      timedOut: 2,
      persistenceRequests: 8,
    });
    expect(serverTable([run]).join('\n')).toContain('| orders | 5.00 | 1.00 | 5.00 | 2.00 | 8.00 |');
  });
});
