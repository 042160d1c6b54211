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
      help: 'Time to settle one matching step in Postgres',
      labelNames: ['op'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    bookOrders: new Gauge({
      name: 'matching_book_orders',
      help: 'Resting orders per book',
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
