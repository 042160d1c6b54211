/**
 * Each worker process's Prometheus registry, served on its own /metrics. Saga metrics keep the names
 * of BrokerX phase 3 (saga_started_total, saga_completed_total{status}, saga_compensations_total,
 * saga_steps_total{step,status}).
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { Counter, Histogram, type Registry } from 'prom-client';
import { COMPENSATION_OUTCOMES, COMPENSATION_STEPS } from '../temporal/contracts.js';
import { ORDER_STATUSES } from '../temporal/orders.js';

/**
 * The saga counters. The series that alerts and panels take `increase()` of (every ACK status, every
 * compensation and outcome) start at 0: prom-client exports a labelled series only from its first
 * `inc()`, and Prometheus cannot see an increase in the first sample of a series, so the first failed
 * compensation would never count in SagaCompensationsFailing, and without one ACK the started-minus-acked
 * sum of SagasNotAcknowledging has no value at all.
 */
export function createSagaMetrics(registry: Registry, steps: StepMetrics = createStepMetrics(registry)) {
  const metrics = {
    started: new Counter({
      name: 'saga_started_total',
      help: 'Trading sagas started',
      registers: [registry],
    }),
    completed: new Counter({
      name: 'saga_completed_total',
      help: 'Trading sagas completed, by final order status',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    acked: new Counter({
      name: 'saga_acked_total',
      help: 'Trading sagas that answered the placement update, by status',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    compensations: new Counter({
      name: 'saga_compensations_total',
      help: 'Compensations run, by step and outcome (failed = retries exhausted, saga needs attention)',
      labelNames: ['step', 'outcome'] as const,
      registers: [registry],
    }),
    ...steps,
  };
  for (const status of ORDER_STATUSES) metrics.acked.inc({ status }, 0);
  for (const step of COMPENSATION_STEPS)
    for (const outcome of COMPENSATION_OUTCOMES) metrics.compensations.inc({ step, outcome }, 0);
  return metrics;
}
export type SagaMetrics = ReturnType<typeof createSagaMetrics>;

/**
 * Saga step counters, kept by every worker that runs saga steps: the trading worker (validate, reserve,
 * persist, release) and the matching worker (submit, replace, cancel).
 */
export function createStepMetrics(registry: Registry) {
  return {
    steps: new Counter({
      name: 'saga_steps_total',
      help: 'Saga step (activity) executions, by step and status',
      labelNames: ['step', 'status'] as const,
      registers: [registry],
    }),
    stepSeconds: new Histogram({
      name: 'saga_step_duration_seconds',
      help: 'Saga step (activity) latency',
      labelNames: ['step'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
export type StepMetrics = ReturnType<typeof createStepMetrics>;

/** Count every activity execution as a saga step: saga_steps_total{step="reserveFunds",status="ok"}. */
export function stepMetricsInterceptor(metrics: StepMetrics): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const step = ctx.info.activityType;
        const t0 = performance.now();
        try {
          const out = await next(input);
          metrics.steps.inc({ step, status: 'ok' });
          return out;
        } catch (err) {
          const type = (err as { type?: string }).type;
          metrics.steps.inc({ step, status: type ? 'rejected' : 'error' });
          throw err;
        } finally {
          metrics.stepSeconds.observe({ step }, (performance.now() - t0) / 1000);
        }
      },
    },
  });
}

export { processRegistry, serveMetrics } from '../lib/metrics-server.js';
