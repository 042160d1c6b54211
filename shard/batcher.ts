/**
 * Group commit: operations queue up and run one at a time, in arrival order, but several queued
 * operations share one Postgres transaction (docs/adr/0012-group-commit-settlement.md). Each computes
 * its match on the in-memory book and writes its settlement in the batch's transaction, inside a
 * savepoint of its own when the batch has more than one operation. No caller hears of a result before
 * the batch commits. A failed operation's savepoint undoes its writes and its books are reloaded from
 * what the transaction sees; a failed commit fails the whole batch and its books are reloaded from
 * Postgres. So no book keeps a match that was not settled, and every failed caller retries (each
 * operation is idempotent).
 */
import type { Db, DbOrTx } from '../db/client.js';
import type { Logger } from '../lib/logger.js';
import type { OrderBook } from '../matching/index.js';
import type { OrderSnapshot } from '../temporal/activities.js';
import { readBusinessFailure } from '../temporal/failures.js';
import type { ShardBooks } from './books.js';
import type { ShardMetrics } from './metrics.js';

/** At most this many operations share one transaction (the matching worker runs up to 50 at once). */
const MAX_BATCH = 64;

export type OpName = 'submit' | 'cancel' | 'replace';

/** An operation: it runs inside its batch's transaction and reaches its books through `bookOf`. */
export type Operation = (
  tx: DbOrTx,
  bookOf: (symbol: string) => Promise<OrderBook>,
) => Promise<OrderSnapshot>;

interface Job {
  op: OpName;
  run: Operation;
  resolve: (value: OrderSnapshot) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; value: OrderSnapshot } | { ok: false; err: unknown };

export class GroupCommit {
  private readonly queue: Job[] = [];
  private draining = false;

  constructor(
    private readonly deps: {
      db: Db;
      books: ShardBooks;
      logger: Logger;
      metrics: ShardMetrics;
      fence?: (tx: DbOrTx) => Promise<void>;
    },
  ) {}

  /** Queue an operation; it resolves once its batch committed. */
  run(op: OpName, run: Operation): Promise<OrderSnapshot> {
    return new Promise<OrderSnapshot>((resolve, reject) => {
      this.queue.push({ op, run, resolve, reject });
      void this.drain();
    });
  }

  /** Run what is queued, a batch at a time; operations that arrive meanwhile form the next batch. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) await this.runBatch(this.queue.splice(0, MAX_BATCH));
    } finally {
      this.draining = false;
    }
  }

  private async runBatch(batch: Job[]): Promise<void> {
    const { books, metrics } = this.deps;
    const t0 = performance.now();
    const outcomes: Outcome[] = [];
    const touched = new Set<string>();
    try {
      await this.deps.db.transaction(async (tx) => {
        for (const job of batch) {
          const mine = new Set<string>();
          const bookOf = async (symbol: string) => {
            mine.add(symbol);
            touched.add(symbol);
            return books.get(symbol) ?? (await books.rebuild(symbol, tx));
          };
          if (batch.length === 1) {
            outcomes.push({ ok: true, value: await job.run(tx, bookOf) });
            continue;
          }
          try {
            outcomes.push({ ok: true, value: await tx.transaction((sp) => job.run(sp, bookOf)) });
          } catch (err) {
            // The savepoint undid this operation's writes; reload its books as the transaction sees them.
            outcomes.push({ ok: false, err });
            for (const symbol of mine) await books.rebuild(symbol, tx);
          }
        }
        await this.deps.fence?.(tx);
      });
    } catch (err) {
      // Nothing of the batch was committed (a lone operation's failure, or the commit itself).
      for (const symbol of touched) await books.reload(symbol);
      if (batch.length > 1)
        this.deps.logger.warn('settlement batch rolled back, books reloaded', { size: batch.length, err });
      batch.forEach((job, i) => {
        const own = outcomes[i];
        this.finish(job, own && !own.ok ? own : { ok: false, err });
      });
      return;
    }
    const seconds = (performance.now() - t0) / 1000;
    metrics.batchSize.observe(batch.length);
    batch.forEach((job, i) => {
      if (outcomes[i]!.ok) metrics.settlementSeconds.observe({ op: job.op }, seconds);
      this.finish(job, outcomes[i]!);
    });
    for (const symbol of touched) books.report(symbol);
  }

  private finish(job: Job, outcome: Outcome): void {
    if (outcome.ok) {
      this.deps.metrics.ops.inc({ op: job.op, outcome: 'ok' });
      job.resolve(outcome.value);
      return;
    }
    const isReject = readBusinessFailure(outcome.err) !== undefined;
    this.deps.metrics.ops.inc({ op: job.op, outcome: isReject ? 'rejected' : 'rolled_back' });
    if (!isReject) this.deps.logger.warn('matching operation rolled back', { op: job.op, err: outcome.err });
    job.reject(outcome.err);
  }
}
