/**
 * The revocation channel (api/auth/revocation.ts) for one endpoint: `/ws` and `/cable` each close the
 * sockets of a revoked session the moment its event arrives. Redis may be down when the process starts:
 * the subscription is retried, with a doubling delay up to a cap, until Redis confirms it (ioredis keeps
 * a confirmed one across reconnects); else revoked sessions' sockets would close only at their re-check.
 */
import type { Logger } from '../../lib/logger.js';
import { RevocationEvent } from '../auth/revocation.js';
import type { FeedHub } from './hub.js';

export interface RevocationRetry {
  /** A failed revocation subscription is retried after this, doubling up to `revocationRetryMaxMs`. */
  revocationRetryMs: number;
  revocationRetryMaxMs: number;
}

export const REVOCATION_RETRY: RevocationRetry = { revocationRetryMs: 500, revocationRetryMaxMs: 10_000 };

/**
 * Subscribe to `channel` on `hub`; `revoke` closes the sockets an event ends and returns how many.
 * Returns the stop (also of a retry still pending).
 */
export function listenForRevocations(
  hub: FeedHub,
  channel: string,
  retry: RevocationRetry,
  logger: Logger,
  revoke: (event: RevocationEvent) => number,
): () => void {
  let stopped = false;
  let unsubscribe: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const onEvent = (raw: unknown) => {
    const parsed = RevocationEvent.safeParse(raw);
    if (!parsed.success) return;
    const count = revoke(parsed.data);
    if (count) logger.info('sockets closed by revocation', { count, reason: parsed.data.reason });
  };
  const subscribe = (attempt: number): void => {
    hub.subscribe(channel, onEvent).then(
      (stop) => {
        if (stopped) stop();
        else unsubscribe = stop;
      },
      (err: unknown) => {
        if (stopped) return;
        const retryInMs = Math.min(retry.revocationRetryMs * 2 ** attempt, retry.revocationRetryMaxMs);
        logger.error('revocation subscription failed', { err, attempt, retryInMs });
        timer = setTimeout(() => subscribe(attempt + 1), retryInMs);
        timer.unref();
      },
    );
  };
  subscribe(0);
  return () => {
    stopped = true;
    clearTimeout(timer);
    unsubscribe?.();
  };
}
