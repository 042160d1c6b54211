/**
 * The `Idempotency-Key` protocol the routes share (deposits and withdrawals, order replace and cancel):
 * a key claimed for one request answers a repeat of that request with the first response
 * (`Idempotent-Replayed: true`), refuses it for another request (422 `idempotency_mismatch`) and while
 * the first is still running (409 `idempotency_in_progress`). Storage: db/queries/idempotency.ts.
 */
import { createHash } from 'node:crypto';
import { claimIdempotencyKey, type ClaimParams } from '../db/queries/idempotency.js';
import type { DbOrTx } from '../db/client.js';
import { ApiError } from './problem.js';

export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const IDEMPOTENCY_KEY_RULE = 'must be 1-128 characters among A-Z a-z 0-9 . _ : -';

/** A malformed key is a 400: the request cannot be processed safely. */
export function checkIdempotencyKey(key: string): string {
  if (!IDEMPOTENCY_KEY_PATTERN.test(key))
    throw new ApiError('bad_request', 'Idempotency-Key must be 1-128 characters among A-Z a-z 0-9 . _ : -');
  return key;
}

export const requestHash = (text: string): string => createHash('sha256').update(text).digest('hex');

export const idempotencyInProgress = () =>
  new ApiError(
    'idempotency_in_progress',
    'A request with this Idempotency-Key is still in progress',
    undefined,
    { 'retry-after': '1' },
  );

/** Claim the key for this request, or the first answer to replay; a mismatch or a running request throws. */
export async function claimOrReplay(
  db: DbOrTx,
  p: ClaimParams,
): Promise<{ kind: 'claimed'; claimedAt: Date } | { kind: 'replay'; body: unknown }> {
  const claim = await claimIdempotencyKey(db, p);
  if (claim.kind === 'mismatch')
    throw new ApiError(
      'idempotency_mismatch',
      'This Idempotency-Key was already used for a different request',
      ['Idempotency-Key: was used with another body or operation'],
    );
  if (claim.kind === 'in_progress') throw idempotencyInProgress();
  if (claim.kind === 'completed') return { kind: 'replay', body: claim.body };
  return claim;
}
