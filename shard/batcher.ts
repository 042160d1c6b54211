/**
 * Group commit: operations queue up and run one at a time, in arrival order, but several queued
 * operations share one Postgres transaction (docs/adr/0012-group-commit-settlement.md). Each computes
 * its match on the in-memory book and writes its settlement in the batch's transaction. No caller hears
 * of a result before the batch commits. A batch first runs without savepoints; if one of its operations
 * fails, that attempt is rolled back, its books are reloaded from Postgres, and the batch runs again with
 * a savepoint per operation: a failed operation's savepoint undoes its writes and its books are reloaded
 * from what the transaction sees. A failed commit fails the whole batch and its books are reloaded from
 * Postgres. So no book keeps a match that was not settled, and every failed caller retries (each
 * operation is idempotent). Without savepoints, the COMMIT is sent right behind the batch's last writes,
 * without waiting for their answer (docs/adr/0033-commit-behind-the-last-writes.md): if they fail, the
 * transaction is aborted and its COMMIT rolls it back, and the batch fails as if they had failed in it.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client.js';
import { fenceSql, isFenceLost, writeSettlement, type SettlementWrites } from '../db/queries/settlement.js';
import type { Logger } from '../lib/logger.js';
import type { OrderBook } from '../matching/index.js';
import type { OrderSnapshot } from '../temporal/activities.js';
import { readBusinessFailure } from '../temporal/failures.js';
import type { ShardBooks } from './books.js';
import type { ShardMetrics } from './metrics.js';

/** At most this many operations share one transaction (the matching worker runs up to 50 at once). */
const MAX_BATCH = 64;

export type OpName = 'submit' | 'cancel' | 'replace';

/**
 * A refusal that an operation's writes stand behind: they commit with the batch, and its caller hears
 * `failure` (an operation that throws writes nothing). A client's cancel or replace of an order whose
 * session closed expires it and is refused as for an expired order (operations.ts).
 */
export class Refusal {
  constructor(readonly failure: unknown) {}
}

/**
 * An operation: it runs inside its batch's transaction, reaches its books through `bookOf` and writes
 * its settlement (at most once, at its end) through `write`, which adds the fence to the batch's last.
 */
export type Operation = (
  tx: DbOrTx,
  bookOf: (symbol: string) => Promise<OrderBook>,
  write: (tx: DbOrTx, w: SettlementWrites) => Promise<void>,
) => Promise<OrderSnapshot | Refusal>;

interface Job {
  op: OpName;
  run: Operation;
  resolve: (value: OrderSnapshot) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; value: OrderSnapshot | Refusal } | { ok: false; err: unknown };

export class GroupCommit {
  private readonly queue: Job[] = [];
  private draining = false;

  constructor(
    private readonly deps: {
      db: Db;
      books: ShardBooks;
      logger: Logger;
      metrics: ShardMetrics;
      fence?: () => SQL;
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

  /**
   * Savepoints cost two statements per operation, and almost no operation fails: a batch of several
   * runs first without them; only if one of its operations fails is that attempt rolled back and the
   * batch run again, each operation in its savepoint.
   */
  private async runBatch(batch: Job[]): Promise<void> {
    if (batch.length > 1 && (await this.attempt(batch, false))) return;
    await this.attempt(batch, true);
  }

  /**
   * Run the batch in one transaction; each operation in a savepoint of its own when `savepoints` (and
   * the batch has more than one). Returns false, with nothing committed and nobody told, when an
   * operation failed without its savepoint; otherwise every caller has its outcome.
   */
  private async attempt(batch: Job[], savepoints: boolean): Promise<boolean> {
    const { books, metrics, fence } = this.deps;
    const t0 = performance.now();
    const outcomes: Outcome[] = [];
    const touched = new Set<string>();
    const alone = batch.length === 1 || !savepoints;
    let operationFailed = false;
    // The fence (ShardEngineDeps.fence) is evaluated by the batch's last statement: the last operation's
    // writes, or a statement of its own when that operation wrote nothing. A lost lock fails it; one
    // that holds keeps the next owner from reading the books until this transaction has ended.
    let fenced = false;
    // Without savepoints the last operation's writes are not awaited: the COMMIT follows them on the
    // connection at once, one round trip fewer per batch. If they fail, the transaction is aborted and its
    // COMMIT rolls it back; this promise then says why.
    let lastWrites: Promise<void> | undefined;
    try {
      await this.deps.db.transaction(async (tx) => {
        for (const [i, job] of batch.entries()) {
          const last = i === batch.length - 1;
          const write = async (db: DbOrTx, w: SettlementWrites) => {
            const writing = writeSettlement(db, w, last ? fence?.() : undefined);
            // The books hold their orders' rows as written, like their orders: a failure reloads both.
            books.remember(w.orders.values());
            if (alone && last) {
              lastWrites = writing;
              writing.catch(() => undefined); // awaited after the COMMIT
              fenced = true;
              return;
            }
            await writing;
            if (last) fenced = true;
          };
          const mine = new Set<string>();
          const bookOf = async (symbol: string) => {
            mine.add(symbol);
            touched.add(symbol);
            return books.get(symbol) ?? (await books.rebuild(symbol, tx));
          };
          if (alone) {
            try {
              outcomes.push({ ok: true, value: await job.run(tx, bookOf, write) });
            } catch (err) {
              operationFailed = true;
              throw err;
            }
            continue;
          }
          try {
            outcomes.push({ ok: true, value: await tx.transaction((sp) => job.run(sp, bookOf, write)) });
          } catch (err) {
            // The savepoint undid this operation's writes, and with them its fence and the gate the
            // fence took; reload its books as the transaction sees them.
            if (last) fenced = false;
            outcomes.push({ ok: false, err });
            for (const symbol of mine) await books.rebuild(symbol, tx);
          }
        }
        // The last operation wrote nothing, or its savepoint took its writes (and the fence).
        if (fence && !fenced) await tx.execute(sql`SELECT ${fenceSql(fence())}`);
      });
      await lastWrites?.catch((err: unknown) => {
        operationFailed = true;
        throw err;
      });
    } catch (err) {
      // Nothing of the batch was committed (an operation's failure without a savepoint, a lost lock, or
      // the commit).
      for (const symbol of touched) await books.reload(symbol);
      if (operationFailed && !isFenceLost(err) && batch.length > 1) return false; // again, with savepoints
      if (batch.length > 1)
        this.deps.logger.warn('settlement batch rolled back, books reloaded', { size: batch.length, err });
      batch.forEach((job, i) => {
        const own = outcomes[i];
        this.finish(job, own && !own.ok ? own : { ok: false, err });
      });
      return true;
    }
    const seconds = (performance.now() - t0) / 1000;
    metrics.batchSize.observe(batch.length);
    batch.forEach((job, i) => {
      if (outcomes[i]!.ok) metrics.settlementSeconds.observe({ op: job.op }, seconds);
      this.finish(job, outcomes[i]!);
    });
    for (const symbol of touched) books.report(symbol);
    return true;
  }

  private finish(job: Job, outcome: Outcome): void {
    let err: unknown;
    if (!outcome.ok) err = outcome.err;
    else if (outcome.value instanceof Refusal)
      err = outcome.value.failure; // its writes committed
    else {
      this.deps.metrics.ops.inc({ op: job.op, outcome: 'ok' });
      job.resolve(outcome.value);
      return;
    }
    const isReject = readBusinessFailure(err) !== undefined;
    this.deps.metrics.ops.inc({ op: job.op, outcome: isReject ? 'rejected' : 'rolled_back' });
    if (!isReject) this.deps.logger.warn('matching operation rolled back', { op: job.op, err });
    job.reject(err);
  }
}
