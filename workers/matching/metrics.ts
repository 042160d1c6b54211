import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function createMatchingMetrics(registry: Registry) {
  return {
    ops: new Counter({
      name: 'matching_operations_total',
      help: 'Matching operations (submit, cancel, replace) by outcome',
      labelNames: ['op', 'outcome'] as const,
      registers: [registry],
    }),
    fills: new Counter({ name: 'matching_fills_total', help: 'Fills settled', registers: [registry] }),
    settlementSeconds: new Histogram({
      name: 'matching_settlement_seconds',
      help: "Time from a step's batch opening its Postgres transaction to the commit",
      labelNames: ['op'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'matching_settlement_batch_size',
      help: 'Operations settled together in one Postgres transaction (group commit)',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    }),
    bookOrders: new Gauge({
      name: 'matching_book_orders',
      help: 'Resting orders per book',
      labelNames: ['symbol'] as const,
      registers: [registry],
    }),
    stopsAccepted: new Counter({
      name: 'matching_stops_accepted_total',
      help: 'Stop and stop-limit orders the engine accepted (pending, or triggered at placement)',
      labelNames: ['symbol', 'order_type'] as const,
      registers: [registry],
    }),
    stopsTriggered: new Counter({
      name: 'matching_stops_triggered_total',
      help: 'Stop orders triggered (at placement, by a trade, by a replace)',
      labelNames: ['symbol'] as const,
      registers: [registry],
    }),
    stopsPending: new Gauge({
      name: 'matching_stops_pending',
      help: 'Stop orders waiting for their trigger per book',
      labelNames: ['symbol'] as const,
      registers: [registry],
    }),
    shardOwned: new Gauge({
      name: 'matching_shard_owned',
      help: '1 while this process owns the shard (holds its advisory lock)',
      labelNames: ['shard'] as const,
      registers: [registry],
    }),
  };
}
export type MatchingMetrics = ReturnType<typeof createMatchingMetrics>;

/** Batches settled so far and the operations in them (read from a registry holding the metrics above). */
export async function settlementBatches(registry: Registry): Promise<{ count: number; sum: number }> {
  const m = await registry.getSingleMetric('matching_settlement_batch_size')?.get();
  const value = (name: string) =>
    m?.values.find((x) => (x as { metricName?: string }).metricName === name)?.value ?? 0;
  return {
    count: value('matching_settlement_batch_size_count'),
    sum: value('matching_settlement_batch_size_sum'),
  };
}
