/**
 * One socket's `executions` subscription: every event of the account exactly once, in seq order, with
 * no gap, on top of a lossy and at-least-once transport.
 *
 * - The caller subscribes the live Redis channel first and routes its events to `onLive` (buffered
 *   while loading), then calls `start(since)`: Postgres is read for every event after `since` (or
 *   after the account's last committed seq when there is no `since`), then the buffer is flushed.
 * - `last` is the highest seq sent. Live events at or below it are duplicates and dropped; a live event
 *   above `last + 1` means pub/sub lost or reordered something: the gap is read from Postgres first
 *   (per-account seqs commit in order, so everything before a published seq is readable).
 * - A periodic sweep (`checkCommitted`) catches a lost tail that no later event would reveal.
 * - Events the relay has pruned (older than the outbox's retention, docs/adr/0043-outbox-retention.md)
 *   are skipped with a `historyGap`: those before a later event as it arrives, those up to a seq known
 *   to be committed (at start, at a sweep) once the read finds nothing more.
 */
import type { AccountEvent } from './frames.js';
import type { FeedHistory } from './history.js';

export type ResyncCause = 'resume' | 'gap' | 'sweep' | 'redis_reconnect';

export interface AccountSink {
  /** Send one event; false when the socket is gone or closing. */
  send(event: AccountEvent): boolean;
  /** Resolves true once the socket can take more history, false when it closed meanwhile. */
  writable(): Promise<boolean>;
  /** Outbox rows between `from` and `to` no longer exist: the stream jumps over them. */
  historyGap(from: number, to: number): void;
  /** `since` was ahead of the account's last seq; the stream starts at `last` instead. */
  sinceAhead(since: number, last: number): void;
  duplicate(): void;
  resync(cause: ResyncCause): void;
  /** The stream cannot keep its guarantee (Postgres unreachable): the socket must close. */
  fail(err: unknown): void;
}

export interface AccountStreamOptions {
  /** History rows per Postgres read. */
  pageSize?: number;
  /** Live events kept while loading; beyond that they are dropped and read from Postgres instead. */
  maxBuffered?: number;
  /** Rounds of "read history, flush buffer" before giving up on a gap that does not fill. */
  maxRounds?: number;
}

export class AccountStream {
  /** Highest seq sent to the socket. */
  last = 0;
  /** Highest seq known to be committed (at start, at a live sweep): readable unless pruned. */
  private committed = 0;
  /** Whether start has placed `last`; before that a catch-up would replay the account from seq 0. */
  private positioned = false;
  private state: 'loading' | 'live' | 'closed' = 'loading';
  private buffer: AccountEvent[] = [];
  private overflowed = false;
  private running = false;
  private again = false;
  /** A committed seq seen by the previous sweep that had not arrived yet. */
  private suspect: number | undefined;
  private readonly pageSize: number;
  private readonly maxBuffered: number;
  private readonly maxRounds: number;

  constructor(
    readonly accountId: string,
    private readonly history: FeedHistory,
    private readonly sink: AccountSink,
    opts: AccountStreamOptions = {},
  ) {
    this.pageSize = opts.pageSize ?? 500;
    this.maxBuffered = opts.maxBuffered ?? 1000;
    this.maxRounds = opts.maxRounds ?? 20;
  }

  get live(): boolean {
    return this.state === 'live';
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Load history and go live. Resolves with the last seq sent, or undefined when the stream closed or
   * failed meanwhile. Call after the live channel is subscribed.
   */
  async start(since: number | undefined): Promise<number | undefined> {
    try {
      const committed = await this.history.lastSeq(this.accountId);
      if (this.closed) return undefined;
      this.committed = committed;
      if (since === undefined) {
        this.last = committed;
      } else if (since > committed) {
        this.sink.sinceAhead(since, committed);
        this.last = committed;
      } else {
        this.last = since;
        if (since < committed) this.sink.resync('resume');
      }
    } catch (err) {
      this.fail(err);
      return undefined;
    }
    this.positioned = true;
    await this.catchUp();
    return this.live ? this.last : undefined;
  }

  /** A live event from Redis. */
  onLive(e: AccountEvent): void {
    if (this.state === 'closed') return;
    if (this.state === 'loading') {
      if (this.buffer.length >= this.maxBuffered) {
        this.buffer = [];
        this.overflowed = true;
        return;
      }
      this.buffer.push(e);
      return;
    }
    if (e.seq <= this.last) {
      this.sink.duplicate();
      return;
    }
    if (e.seq === this.last + 1) {
      if (this.sink.send(e)) this.last = e.seq;
      return;
    }
    this.buffer.push(e);
    this.sink.resync('gap');
    void this.catchUp();
  }

  /**
   * The subscriber connection came back: whatever was published meanwhile may be lost. Before start
   * there is nothing to do: its own catch-up reads Postgres after this moment.
   */
  resync(cause: ResyncCause): void {
    if (this.state === 'closed' || !this.positioned) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.sink.resync(cause);
    void this.catchUp();
  }

  /** Sweep: `committed` is the account's last committed seq. Two sweeps behind means a lost tail. */
  checkCommitted(committed: number): void {
    if (this.state !== 'live') return;
    this.committed = Math.max(this.committed, committed);
    if (this.suspect !== undefined && this.last < this.suspect) {
      this.suspect = undefined;
      this.resync('sweep');
      return;
    }
    this.suspect = committed > this.last ? committed : undefined;
  }

  close(): void {
    this.state = 'closed';
    this.buffer = [];
  }

  private fail(err: unknown): void {
    if (this.state === 'closed') return;
    this.close();
    this.sink.fail(err);
  }

  /** Send a history event in order; false when the socket is gone. */
  private deliver(e: AccountEvent): boolean {
    if (e.seq <= this.last) {
      this.sink.duplicate();
      return true;
    }
    if (e.seq > this.last + 1) this.sink.historyGap(this.last + 1, e.seq - 1);
    if (!this.sink.send(e)) return false;
    this.last = e.seq;
    return true;
  }

  private async catchUp(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.state = 'loading';
    try {
      for (let round = 0; ; round++) {
        this.again = false;
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(5 * round, 100)));
        for (;;) {
          const rows = await this.history.eventsAfter(this.accountId, this.last, this.pageSize);
          if (this.closed) return;
          for (const e of rows) if (!this.deliver(e)) return;
          if (rows.length < this.pageSize) break;
          if (!(await this.sink.writable()) || this.closed) return;
        }
        // This read came after `committed` was learnt: an event up to it that it did not find is pruned.
        if (this.last < this.committed) {
          this.sink.historyGap(this.last + 1, this.committed);
          this.last = this.committed;
        }
        // Flush what arrived live meanwhile, in seq order; stop at a hole.
        const pending = this.buffer.sort((a, b) => a.seq - b.seq);
        this.buffer = [];
        let hole = false;
        for (const [i, e] of pending.entries()) {
          if (e.seq <= this.last) {
            this.sink.duplicate();
            continue;
          }
          if (e.seq !== this.last + 1) {
            // Published after our read: read again rather than skip ahead.
            this.buffer = pending.slice(i);
            hole = true;
            break;
          }
          if (!this.sink.send(e)) return;
          this.last = e.seq;
        }
        if (this.overflowed) {
          this.overflowed = false;
          hole = true;
        }
        if (!hole && !this.again) {
          this.state = 'live';
          return;
        }
        if (round >= this.maxRounds) throw new Error(`account stream could not fill seq ${this.last + 1}`);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.running = false;
    }
  }
}
