/**
 * What the shard reports: the matching worker hands in its prom-client metrics
 * (workers/matching/metrics.ts), benchmarks and tests the same.
 */
export interface ShardMetrics {
  ops: { inc(labels: { op: string; outcome: 'ok' | 'rejected' | 'rolled_back' }): void };
  fills: { inc(n: number): void };
  settlementSeconds: { observe(labels: { op: string }, seconds: number): void };
  batchSize: { observe(size: number): void };
  bookOrders: { set(labels: { symbol: string }, n: number): void };
  stopsAccepted: { inc(labels: { symbol: string; order_type: string }): void };
  stopsTriggered: { inc(labels: { symbol: string }, n: number): void };
  stopsPending: { set(labels: { symbol: string }, n: number): void };
}
