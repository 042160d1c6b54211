/**
 * The api process's single Redis subscriber connection. Channels are subscribed on demand and reference
 * counted: the first listener of a channel sends SUBSCRIBE, the last one leaving sends UNSUBSCRIBE. Each
 * message is parsed once and handed to every listener of its channel. Pub/sub is fast but lossy (a
 * dropped connection loses whatever was published meanwhile), so after a reconnect the hub tells its
 * resync listeners, which re-read Postgres.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.js';

export type HubListener = (event: unknown) => void;

export interface FeedHub {
  /** Listen to a channel; resolves once Redis confirmed the subscription. Returns the unsubscribe. */
  subscribe(channel: string, listener: HubListener): Promise<() => void>;
  /** Called after the subscriber connection came back (messages may have been lost). */
  onResync(listener: () => void): () => void;
  /** Channels currently subscribed. */
  channelCount(): number;
  close(): Promise<void>;
}

export function createRedisHub(redis: Redis, logger: Logger, name = 'feed'): FeedHub {
  // Channels are subscribed again by the ready handler below, not by ioredis: its own resubscribe is a
  // SUBSCRIBE nobody awaits, and one the command timeout fails (a Redis that hangs as it comes back) is
  // an unhandled rejection, which ends the process.
  const sub = redis.duplicate({ connectionName: name, autoResubscribe: false });
  const listeners = new Map<string, Set<HubListener>>();
  const subscribing = new Map<string, Promise<unknown>>();
  const resyncListeners = new Set<() => void>();
  let closed = false;

  sub.on('message', (channel: string, message: string) => {
    const set = listeners.get(channel);
    if (!set || set.size === 0) return;
    let event: unknown;
    try {
      event = JSON.parse(message);
    } catch {
      logger.warn('feed: unparsable pub/sub message', { channel });
      return;
    }
    for (const l of set) {
      try {
        l(event);
      } catch (err) {
        logger.error('feed listener failed', { channel, err });
      }
    }
  });
  sub.on('error', (err: Error) => logger.warn('feed subscriber error', { err: err.message }));
  let connections = 0;
  sub.on('ready', () => {
    if (++connections === 1) return;
    const connection = connections;
    const channels = [...listeners.keys()];
    // Whatever was published while down is lost: once subscribed again, the resync listeners re-read it.
    logger.warn('feed subscriber reconnected: resubscribing and resyncing', {
      name,
      channels: channels.length,
    });
    (channels.length ? sub.subscribe(...channels) : Promise.resolve()).then(
      () => {
        if (connection !== connections || closed) return;
        for (const l of resyncListeners) l();
      },
      (err: unknown) => {
        if (connection !== connections || closed) return;
        // A new connection (ready again) retries the subscribe, then resyncs.
        logger.warn('feed resubscribe failed: reconnecting', { name, err });
        sub.disconnect(true);
      },
    );
  });

  function release(channel: string, set: Set<HubListener>, listener: HubListener): void {
    set.delete(listener);
    if (set.size > 0 || listeners.get(channel) !== set) return;
    listeners.delete(channel);
    if (closed) return;
    // Commands on one connection run in order: a later SUBSCRIBE of the same channel comes after this.
    sub
      .unsubscribe(channel)
      .catch((err: unknown) => logger.warn('feed unsubscribe failed', { channel, err }));
  }

  return {
    async subscribe(channel, listener) {
      if (closed) throw new Error('feed hub is closed');
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        const pending = sub.subscribe(channel);
        subscribing.set(channel, pending);
        pending.then(
          () => subscribing.get(channel) === pending && subscribing.delete(channel),
          () => subscribing.get(channel) === pending && subscribing.delete(channel),
        );
      }
      set.add(listener);
      const owner = set;
      try {
        await subscribing.get(channel);
      } catch (err) {
        release(channel, owner, listener);
        throw err;
      }
      let done = false;
      return () => {
        if (done) return;
        done = true;
        release(channel, owner, listener);
      };
    },
    onResync(listener) {
      resyncListeners.add(listener);
      return () => resyncListeners.delete(listener);
    },
    channelCount: () => listeners.size,
    async close() {
      closed = true;
      listeners.clear();
      resyncListeners.clear();
      await sub.quit().catch(() => sub.disconnect());
    },
  };
}
