/**
 * Market channels of one api process, per symbol: who listens to quotes, depth and trades, the last
 * update seen (new subscribers get it as a snapshot), and which trades were already sent. Each Redis
 * message is turned into frames once and the same bytes go to every subscriber.
 */
import type { Logger } from '../../lib/logger.js';
import {
  depthFrame,
  depthKey,
  encode,
  quoteFrame,
  quoteKey,
  toMarketUpdate,
  tradeFrame,
  type MarketUpdate,
} from './frames.js';
import type { FeedHistory } from './history.js';
import type { FeedHub } from './hub.js';
import type { FrameType, MarketChannel } from './protocol.js';
import { sharedFrame, type SharedFrame } from './wire.js';

/**
 * Whether a live update may replace `last`, the newest one seen: two relays may publish out of order,
 * and an older book state never replaces a newer one.
 */
export const newerBook = (m: MarketUpdate, last: MarketUpdate | undefined): boolean =>
  !last || m.tsMs >= last.tsMs;

/**
 * Read the books of `symbols` from Postgres, one after the other, and hand each to `apply`, unless a
 * live update arrived during its read (`last` changed: that one is at least as new). A book read has the
 * read's time, not the shard's: it takes `last`'s place in the order of live updates (`newerBook`), so an
 * update committed after the read still replaces it. A failed read is logged and skipped.
 */
export async function readBooks(
  symbols: readonly string[],
  last: (symbol: string) => MarketUpdate | undefined,
  deps: { history: FeedHistory; now: () => Date; logger: Logger },
  apply: (symbol: string, book: MarketUpdate) => void,
): Promise<void> {
  for (const symbol of symbols) {
    const seen = last(symbol);
    let book: MarketUpdate;
    try {
      book = await deps.history.bookSnapshot(symbol, deps.now());
    } catch (err) {
      deps.logger.warn('feed: book read failed', { symbol, err });
      continue;
    }
    if (last(symbol) === seen) apply(symbol, { ...book, tsMs: seen?.tsMs ?? 0 });
  }
}

/** What a market channel needs from a socket. */
export interface MarketSubscriber {
  /** Send a shared frame; false when the socket is gone or was just dropped as a slow consumer. */
  sendShared(frame: SharedFrame): boolean;
  readonly closing: boolean;
}

export interface FanoutTelemetry {
  frames(type: FrameType, n: number): void;
  delivered(eventMs: number, n: number): void;
}

interface Topic {
  symbol: string;
  subs: Record<MarketChannel, Set<MarketSubscriber>>;
  /** Subscribes in flight (keeps the topic while they wait for Redis or Postgres). */
  joining: number;
  ready: Promise<() => void>;
  last: MarketUpdate | undefined;
  quoteKey: string | undefined;
  depthKey: string | undefined;
  /** Book seq of the newest trade sent; undefined until the first update. */
  tradeSeq: number | undefined;
}

export class MarketFeed {
  private readonly topics = new Map<string, Topic>();

  constructor(
    private readonly hub: FeedHub,
    private readonly history: FeedHistory,
    private readonly channelOf: (symbol: string) => string,
    private readonly telemetry: FanoutTelemetry,
    private readonly logger: Logger,
    private readonly now: () => Date,
  ) {}

  symbolCount(): number {
    return this.topics.size;
  }

  /**
   * Add a subscriber; quotes and depth start with a snapshot (the last update, else the book from
   * Postgres, which then becomes the last). Throws when Redis or Postgres fail; the subscriber is then not added.
   */
  async subscribe(sub: MarketSubscriber, channel: MarketChannel, symbol: string): Promise<void> {
    const topic = this.topicFor(symbol);
    topic.joining++;
    try {
      await topic.ready;
      let snapshot = topic.last;
      if (!snapshot && channel !== 'trades') {
        const fromBook = await this.history.bookSnapshot(symbol, this.now());
        snapshot = topic.last ?? fromBook; // a live update that arrived meanwhile is newer
        if (!topic.last) {
          // The book sent is the topic's until a live update (any: tsMs 0) replaces it, so that a
          // resync sends only what changed since.
          topic.last = { ...fromBook, tsMs: 0 };
          topic.quoteKey = quoteKey(fromBook);
          topic.depthKey = depthKey(fromBook);
        }
      }
      if (sub.closing) return;
      if (snapshot && channel === 'quotes')
        this.sendOne(sub, sharedFrame(encode(quoteFrame(snapshot, true))), 'quote');
      if (snapshot && channel === 'depth')
        this.sendOne(sub, sharedFrame(encode(depthFrame(snapshot, true))), 'depth');
      topic.subs[channel].add(sub);
    } finally {
      topic.joining--;
      this.releaseIfIdle(topic);
    }
  }

  /**
   * The subscriber connection came back: the updates published meanwhile are lost. Each symbol's book is
   * read again and becomes `last`; its quote and depth go to the subscribers where they changed.
   */
  resync(): Promise<void> {
    const { history, now, logger } = this;
    return readBooks(
      [...this.topics.keys()],
      (s) => this.topics.get(s)?.last,
      { history, now, logger },
      (s, book) => {
        const topic = this.topics.get(s);
        if (topic) this.apply(topic, book);
      },
    );
  }

  /** False when it was not subscribed. */
  unsubscribe(sub: MarketSubscriber, channel: MarketChannel, symbol: string): boolean {
    const topic = this.topics.get(symbol);
    if (!topic || !topic.subs[channel].delete(sub)) return false;
    this.releaseIfIdle(topic);
    return true;
  }

  private sendOne(sub: MarketSubscriber, frame: SharedFrame, type: FrameType): void {
    if (sub.sendShared(frame)) this.telemetry.frames(type, 1);
  }

  private topicFor(symbol: string): Topic {
    let topic = this.topics.get(symbol);
    if (topic) return topic;
    const t: Topic = {
      symbol,
      subs: { quotes: new Set(), depth: new Set(), trades: new Set() },
      joining: 0,
      ready: Promise.resolve(() => {}),
      last: undefined,
      quoteKey: undefined,
      depthKey: undefined,
      tradeSeq: undefined,
    };
    t.ready = this.hub.subscribe(this.channelOf(symbol), (raw) => this.onUpdate(t, raw));
    // A failed subscribe is reported to the waiting subscribers; forget the topic so a retry starts over.
    t.ready.catch(() => {
      if (this.topics.get(symbol) === t) this.topics.delete(symbol);
    });
    this.topics.set(symbol, t);
    topic = t;
    return topic;
  }

  private releaseIfIdle(topic: Topic): void {
    const { subs } = topic;
    if (topic.joining > 0 || subs.quotes.size + subs.depth.size + subs.trades.size > 0) return;
    if (this.topics.get(topic.symbol) === topic) this.topics.delete(topic.symbol);
    topic.ready.then(
      (release) => release(),
      () => undefined,
    );
  }

  private onUpdate(topic: Topic, raw: unknown): void {
    const m = toMarketUpdate(raw);
    if (!m || m.symbol !== topic.symbol) {
      this.logger.warn('feed: malformed market update', { symbol: topic.symbol });
      return;
    }
    if (newerBook(m, topic.last)) this.apply(topic, m, m.tsMs);
  }

  /**
   * `m` becomes the topic's book: its new trades, and its quote and depth where they changed, go out.
   * `eventMs` is the live update's time, for the delivery latency (none for a book read from Postgres).
   */
  private apply(topic: Topic, m: MarketUpdate, eventMs?: number): void {
    const baseline = topic.tradeSeq;
    // Trades new to this process: above the last seen book seq; on the first update, those of this step.
    const fresh = m.trades
      .filter((t) => (baseline === undefined ? t.ts >= m.tsMs : t.seq > baseline))
      .reverse();
    const newest = m.trades[0];
    if (newest && (baseline === undefined || newest.seq > baseline)) topic.tradeSeq = newest.seq;
    topic.last = m;

    const qk = quoteKey(m);
    if (qk !== topic.quoteKey) {
      topic.quoteKey = qk;
      if (topic.subs.quotes.size > 0)
        this.fanout(topic.subs.quotes, sharedFrame(encode(quoteFrame(m))), 'quote', eventMs);
    }
    const dk = depthKey(m);
    if (dk !== topic.depthKey) {
      topic.depthKey = dk;
      if (topic.subs.depth.size > 0)
        this.fanout(topic.subs.depth, sharedFrame(encode(depthFrame(m))), 'depth', eventMs);
    }
    if (topic.subs.trades.size > 0)
      for (const t of fresh)
        this.fanout(topic.subs.trades, sharedFrame(encode(tradeFrame(m, t))), 'trade', eventMs);
  }

  private fanout(subs: Set<MarketSubscriber>, frame: SharedFrame, type: FrameType, eventMs?: number): void {
    let n = 0;
    for (const s of subs) if (s.sendShared(frame)) n++;
    this.telemetry.frames(type, n);
    if (eventMs !== undefined) this.telemetry.delivered(eventMs, n);
  }
}
