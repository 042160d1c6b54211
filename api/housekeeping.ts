/**
 * The api's housekeeping, a round every HOUSEKEEPING_INTERVAL_MS in every instance. It deletes
 * - expired idempotency keys (deposits and withdrawals, keyed order replaces and cancels), and
 * - the refresh tokens of sessions over for more than REFRESH_TOKEN_TTL_SECONDS, each user's newest
 *   token excepted (purgeEndedRefreshTokens in db/queries/users.ts says why that is safe).
 * Each task deletes batches of HOUSEKEEPING_BATCH rows until one comes back short, at most
 * HOUSEKEEPING_MAX_BATCHES a round; the rest waits for the next round. Every batch is a short transaction
 * under the task's advisory try-lock (db/queries/housekeeping.ts): an instance that finds it taken leaves
 * the round to the one holding it.
 */
import type { DbOrTx } from '../db/client.js';
import { withHousekeepingLock } from '../db/queries/housekeeping.js';
import { purgeExpiredIdempotencyKeys } from '../db/queries/idempotency.js';
import { purgeEndedRefreshTokens } from '../db/queries/users.js';
import type { ApiDeps } from './types.js';

export const HOUSEKEEPING_BATCH = 1000;
/** Batches per task and round: at most 50,000 rows, a few seconds of one connection. */
export const HOUSEKEEPING_MAX_BATCHES = 50;

type HousekeepingDeps = Pick<ApiDeps, 'database' | 'config' | 'now' | 'logger'>;

export interface Deleted {
  idempotencyKeys: number;
  refreshTokens: number;
}

/** One round; `stopped` ends it between two batches (shutdown). */
export async function housekeep(deps: HousekeepingDeps, stopped = () => false): Promise<Deleted> {
  const ttlMs = deps.config.REFRESH_TOKEN_TTL_SECONDS * 1000;
  const batches = async (task: string, purge: (tx: DbOrTx, now: Date) => Promise<number>) => {
    let deleted = 0;
    for (let i = 0; i < HOUSEKEEPING_MAX_BATCHES && !stopped(); i++) {
      const n = await withHousekeepingLock(deps.database.db, task, (tx) => purge(tx, deps.now()));
      if (n === undefined) break; // another instance is at it
      deleted += n;
      if (n < HOUSEKEEPING_BATCH) break;
    }
    return deleted;
  };
  return {
    idempotencyKeys: await batches('idempotency_keys', (tx, now) =>
      purgeExpiredIdempotencyKeys(tx, now, HOUSEKEEPING_BATCH),
    ),
    refreshTokens: await batches('refresh_tokens', (tx, now) =>
      purgeEndedRefreshTokens(tx, {
        now,
        before: new Date(now.getTime() - ttlMs),
        limit: HOUSEKEEPING_BATCH,
      }),
    ),
  };
}

/**
 * A round every `intervalMs`, one at a time, on a timer that keeps no process alive. Returns the stop
 * function: no round starts after it, and it resolves once the round in progress ended after its batch.
 */
export function startHousekeeping(deps: HousekeepingDeps, intervalMs: number): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let round = Promise.resolve();
  const schedule = () => {
    timer = setTimeout(() => {
      round = housekeep(deps, () => stopped)
        .then(
          (deleted) => {
            if (deleted.idempotencyKeys || deleted.refreshTokens)
              deps.logger.info('housekeeping', { ...deleted });
          },
          (err: unknown) => deps.logger.warn('housekeeping failed', { err }),
        )
        .then(() => {
          if (!stopped) schedule();
        });
    }, intervalMs).unref();
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
    return round;
  };
}
