/**
 * Matching-worker activities: thin adapters from Temporal to the shard's engine. Each is idempotent
 * by order id (submit) or by the saga's request id (replace, cancel).
 */
import type { MatchingActivities } from '../temporal/activities.js';
import type { ShardEngine } from '../shard/index.js';

export function createMatchingActivities(engine: ShardEngine): MatchingActivities {
  return {
    submitOrder: ({ orderId }) => engine.submit(orderId),
    cancelOrder: (args) => engine.cancel(args),
    replaceOrder: (args) => engine.replace(args),
  };
}
