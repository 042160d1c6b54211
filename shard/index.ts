/**
 * shard/: the matching shard's domain service, the only writer of a shard's orders after submission.
 * The matching worker (workers/matching/) wires it to Temporal; activities/matching.ts adapts its
 * operations to the saga. Split by job:
 *
 *   books.ts       the shard's in-memory books and their orders' rows, rebuilt from Postgres; rows
 *                  mapped to engine orders
 *   batcher.ts     group commit: queued operations share one transaction, savepoint each
 *   operations.ts  submit, cancel, replace with their business rules (order-rules.ts)
 *   settlement.ts  an engine result settled in Postgres and announced as outbox events
 *
 * May import `lib/ db/ matching/ temporal/` only.
 */
import type { SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { listInstruments } from '../db/queries/orders.js';
import type { Logger } from '../lib/logger.js';
import { shardOf, type OrderBook } from '../matching/index.js';
import type { OrderSnapshot } from '../temporal/activities.js';
import type { ReplaceRequest } from '../temporal/contracts.js';
import type { CancelReason } from '../temporal/orders.js';
import { GroupCommit } from './batcher.js';
import { ShardBooks } from './books.js';
import type { ShardMetrics } from './metrics.js';
import { cancelOrder, replaceOrder, submitOrder, type OperationDeps } from './operations.js';

export type { ShardMetrics } from './metrics.js';

export interface ShardEngineDeps {
  db: Db;
  shard: number;
  shardCount: number;
  logger: Logger;
  metrics: ShardMetrics;
  now?: () => Date;
  /**
   * A boolean SQL expression, false when this process no longer owns the shard, evaluated
   * in the last statement of every settlement transaction, which fails when it is false (`shard_fence`).
   * A batch that finds the lock lost rolls back; one that found it held ends before the new owner
   * rebuilds its books (workers/lease.ts `Lease.held`). No batch commits behind the rebuilt books.
   */
  fence?: () => SQL;
}

/** One shard's order books and the operations on them (see the file header). */
export class ShardEngine {
  private readonly books: ShardBooks;
  private readonly commit: GroupCommit;
  private readonly ops: OperationDeps;

  constructor(private readonly deps: ShardEngineDeps) {
    this.books = new ShardBooks(deps);
    this.commit = new GroupCommit({ ...deps, books: this.books });
    this.ops = { books: this.books, metrics: deps.metrics, now: deps.now ?? (() => new Date()) };
  }

  /** Symbols this shard owns. */
  async symbols(): Promise<string[]> {
    const all = await listInstruments(this.deps.db);
    return all.map((i) => i.symbol).filter((s) => shardOf(s, this.deps.shardCount) === this.deps.shard);
  }

  /** Rebuild every book of the shard from Postgres (open orders in priority order). */
  async rebuildAll(): Promise<void> {
    for (const symbol of await this.symbols()) await this.books.rebuild(symbol, this.deps.db);
  }

  /** Every book of the shard as aggregated levels (all of them) and order counts. */
  booksSnapshot(): Record<string, { size: number; depth: unknown }> {
    return Object.fromEntries(
      this.books.entries().map(([symbol, b]) => [symbol, { size: b.size(), depth: b.depth(100_000) }]),
    );
  }

  book(symbol: string): OrderBook | undefined {
    return this.books.get(symbol);
  }

  submit(orderId: string): Promise<OrderSnapshot> {
    return this.commit.run('submit', submitOrder(this.ops, orderId));
  }

  cancel(args: {
    orderId: string;
    requestId?: string;
    clientVersion?: number;
    reason: CancelReason;
  }): Promise<OrderSnapshot> {
    return this.commit.run('cancel', cancelOrder(this.ops, args));
  }

  replace(args: { orderId: string } & ReplaceRequest): Promise<OrderSnapshot> {
    return this.commit.run('replace', replaceOrder(this.ops, args));
  }
}
