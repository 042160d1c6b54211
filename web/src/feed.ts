/**
 * The live feed (`/ws`, docs/feed-protocol.md) for the page: the account's events exactly once and in
 * order across reconnects, and market channels that come back after a reconnect.
 *
 * - The access token travels as the subprotocols `bearer, <token>` (browsers cannot set headers).
 * - The highest `seq` seen is kept; a reconnect asks for `?since=<seq>` and anything at or below it is
 *   dropped, so a dropped socket loses nothing and repeats nothing.
 * - Close 4003 (session revoked) ends the session; 4001 (token expired) refreshes the token first; every
 *   other close reconnects after a growing pause (or the server's `retry_after_ms`).
 */

export type FeedState = 'connecting' | 'live' | 'reconnecting' | 'offline';
export type MarketChannel = 'quotes' | 'depth' | 'trades';

export interface Frame {
  type: string;
  [key: string]: unknown;
}

/** An account event: `order_accepted`, `execution` or `account_event`, with its `seq` (the fields the page reads). */
export interface AccountEvent extends Frame {
  seq: number;
  event_id?: string;
  exec_type?: string;
  event_type?: string;
  symbol?: string;
  side?: string;
  status?: string;
  quantity?: number;
  price?: number | null;
  stop_price?: number | null;
  fill_qty?: number;
  fill_price?: number | null;
  leaves_qty?: number;
  reject_reason?: string | null;
}

/** What the feed needs of a WebSocket (the browser's, or a test's fake). */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface FeedOptions {
  /** ws(s)://host/ws */
  url: string;
  token: () => string | undefined;
  onEvent: (event: AccountEvent) => void;
  onMarket?: (frame: Frame) => void;
  onState?: (state: FeedState) => void;
  /** Close 4003 or a refused token: the session is over. */
  onSessionEnded?: () => void;
  /** Close 4001 or `token_expiring`: get a fresh access token (the feed then uses `token()`). */
  refreshToken?: () => Promise<void>;
  /** Defaults to the browser's WebSocket. */
  socket?: (url: string, protocols: string[]) => SocketLike;
  /** Pause before reconnect attempt `n` (1, 2, ...). */
  backoffMs?: (attempt: number) => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
}

const SEQUENCED = new Set(['order_accepted', 'execution', 'account_event']);
const MARKET = new Set(['quote', 'depth', 'trade']);
const OPEN = 1;

export const defaultBackoff = (attempt: number) => Math.min(250 * 2 ** attempt, 10_000);

export class LiveFeed {
  /** The highest account seq received (undefined until the first `caught_up`). */
  lastSeq: number | undefined;
  state: FeedState = 'offline';
  private socket: SocketLike | undefined;
  /** Market channels by `channel:SYMBOL`, with how many parts of the page want each. */
  private readonly markets = new Map<string, number>();
  private attempts = 0;
  private timer: unknown;
  private stopped = true;
  private retryAfter: number | undefined;

  constructor(private readonly opts: FeedOptions) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) (this.opts.clearTimer ?? clearTimeout)(this.timer as number);
    this.timer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(1000, 'logout');
    this.setState('offline');
  }

  subscribe(channel: MarketChannel, symbol: string): void {
    const key = `${channel}:${symbol.toUpperCase()}`;
    const wanted = this.markets.get(key) ?? 0;
    this.markets.set(key, wanted + 1);
    if (wanted === 0) this.send({ op: 'subscribe', channel, symbol: symbol.toUpperCase() });
  }

  unsubscribe(channel: MarketChannel, symbol: string): void {
    const key = `${channel}:${symbol.toUpperCase()}`;
    const wanted = this.markets.get(key) ?? 0;
    if (wanted > 1) this.markets.set(key, wanted - 1);
    if (wanted !== 1) return;
    this.markets.delete(key);
    this.send({ op: 'unsubscribe', channel, symbol: symbol.toUpperCase() });
  }

  /** Hand the open socket a fresh access token (after a session refresh). */
  authenticate(token: string): void {
    this.send({ op: 'auth', token });
  }

  private send(message: object): void {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(message));
  }

  private setState(state: FeedState): void {
    if (this.state === state) return;
    this.state = state;
    this.opts.onState?.(state);
  }

  private connect(): void {
    const token = this.opts.token();
    if (!token) {
      this.setState('offline');
      this.opts.onSessionEnded?.();
      return;
    }
    this.setState(this.attempts === 0 ? 'connecting' : 'reconnecting');
    const url = this.lastSeq === undefined ? this.opts.url : `${this.opts.url}?since=${this.lastSeq}`;
    const make = this.opts.socket ?? ((u, p) => new WebSocket(u, p) as unknown as SocketLike);
    const socket = make(url, ['bearer', token]);
    this.socket = socket;
    socket.onmessage = (ev) => {
      if (this.socket !== socket || typeof ev.data !== 'string') return;
      let frame: Frame;
      try {
        frame = JSON.parse(ev.data) as Frame;
      } catch {
        return;
      }
      this.receive(frame);
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      void this.closed(ev.code);
    };
    socket.onerror = () => {};
  }

  private receive(frame: Frame): void {
    if (frame.type === 'welcome') {
      // Without `since` in the URL the executions stream starts only when asked for.
      if (this.lastSeq === undefined) this.send({ op: 'subscribe', channel: 'executions' });
      for (const key of this.markets.keys()) {
        const [channel, symbol] = key.split(':');
        this.send({ op: 'subscribe', channel, symbol });
      }
      return;
    }
    if (frame.type === 'caught_up') {
      if (this.lastSeq === undefined && typeof frame.seq === 'number') this.lastSeq = frame.seq;
      this.attempts = 0;
      this.setState('live');
      return;
    }
    if (SEQUENCED.has(frame.type) && typeof frame.seq === 'number') {
      if (this.lastSeq !== undefined && frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
      this.opts.onEvent(frame as AccountEvent);
      return;
    }
    if (MARKET.has(frame.type)) {
      this.opts.onMarket?.(frame);
      return;
    }
    if (frame.type === 'token_expiring' && this.opts.refreshToken) {
      void this.opts.refreshToken().then(
        () => {
          const token = this.opts.token();
          if (token) this.authenticate(token);
        },
        () => {},
      );
      return;
    }
    if (frame.type === 'reconnect' && typeof frame.retry_after_ms === 'number')
      this.retryAfter = frame.retry_after_ms;
  }

  private async closed(code: number): Promise<void> {
    if (this.stopped) return;
    if (code === 4003) {
      this.stop();
      this.opts.onSessionEnded?.();
      return;
    }
    this.setState('reconnecting');
    if (code === 4001 && this.opts.refreshToken) {
      try {
        await this.opts.refreshToken();
      } catch {
        this.stop();
        this.opts.onSessionEnded?.();
        return;
      }
    }
    this.attempts += 1;
    const pause = this.retryAfter ?? (this.opts.backoffMs ?? defaultBackoff)(this.attempts);
    this.retryAfter = undefined;
    this.timer = (this.opts.setTimer ?? setTimeout)(() => {
      this.timer = undefined;
      if (!this.stopped) this.connect();
    }, pause);
  }
}

/** The feed's URL on the page's own origin. */
export function feedUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}
