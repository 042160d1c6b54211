/**
 * One feed socket after the upgrade: the client's operations, its subscriptions, the message-rate
 * limit, the heartbeat, the token's expiry and renewal, and backpressure (a socket that does not read
 * is closed instead of slowing down everyone else's fan-out).
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import type { Logger } from '../../lib/logger.js';
import type { RevocationEvent } from '../auth/revocation.js';
import type { VerifiedAccessToken } from '../auth/tokens.js';
import { AccountStream, type ResyncCause } from './account-stream.js';
import { isUnauthorized, type Authenticate } from './auth.js';
import { EventType } from '../../temporal/events.js';
import { accountFrame, encode, toAccountEvent, withId, type AccountEvent, type Frame } from './frames.js';
import type { FeedHistory } from './history.js';
import type { FeedHub } from './hub.js';
import type { FanoutTelemetry, MarketFeed, MarketSubscriber } from './market.js';
import {
  CloseCode,
  ErrorCode,
  PROTOCOL_VERSION,
  parseClientMessage,
  type ClientMessage,
  type DisconnectReason,
  type FrameType,
  type MarketChannel,
  type RequestId,
} from './protocol.js';
import { MessageRate } from './rate.js';
import { closeWithin, sharedFrame, socketOf, type SharedFrame } from './wire.js';

export interface FeedLimits {
  maxPayloadBytes: number;
  heartbeatMs: number;
  maxBufferedBytes: number;
  ratePerSecond: number;
  rateBurst: number;
  maxMarketSubscriptions: number;
  /** Re-verify the token (revoked session) this often. */
  revalidateMs: number;
  /** Warn with `token_expiring` this long before the token expires. */
  expiryWarningMs: number;
  /** After a close frame, wait this long for the peer before terminating the socket. */
  closeGraceMs: number;
}

/** What every connection of one server shares. */
export interface ConnectionContext {
  instanceId: string;
  limits: FeedLimits;
  logger: Logger;
  hub: FeedHub;
  history: FeedHistory;
  market: MarketFeed;
  authenticate: Authenticate;
  now: () => Date;
  accountChannel: (accountId: string) => string;
  telemetry: FanoutTelemetry & {
    received(): void;
    duplicate(): void;
    resync(cause: ResyncCause): void;
  };
}

const TEXT = { binary: false } as const;
/** WebSocket.OPEN */
const OPEN = 1;
/** Serialized account frames, shared by the sockets of one account on this process. */
const accountBytes = new WeakMap<object, SharedFrame>();

/**
 * Sockets written to in the current tick stay corked until its end, so that the frames of several
 * updates handled in one tick (Redis hands over a batch after any hiccup) leave in one write per socket.
 */
const corked: FeedConnection[] = [];
function uncorkAll(): void {
  for (const c of corked) c.uncork();
  corked.length = 0;
}

interface Executions {
  stream: AccountStream;
  release: () => void;
}

export class FeedConnection implements MarketSubscriber {
  readonly id = randomUUID();
  readonly accountId: string;
  closing = false;
  /** Why the socket closed (ws_disconnects_total); a close by the peer leaves it undefined. */
  reason: DisconnectReason | undefined;
  private alive = true;
  private token: string;
  private userId: string;
  /** Sessions whose revocation ends this socket: the one it opened with and any it re-authenticated with. */
  private readonly sessionIds = new Set<string>();
  private expiresAt: Date;
  private lastVerified: number;
  private readonly rate: MessageRate;
  private executions: Executions | undefined;
  private readonly market = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private expiryTimer: NodeJS.Timeout | undefined;
  private warningTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  /** The TCP socket, for writing shared frames (wire.ts). */
  private readonly socket: Duplex | undefined;
  /** Bytes written to the corked socket in this tick. */
  private corkedBytes = 0;

  constructor(
    readonly ws: WebSocket,
    principal: VerifiedAccessToken,
    token: string,
    private readonly ctx: ConnectionContext,
  ) {
    this.accountId = principal.accountId;
    this.userId = principal.userId;
    this.sessionIds.add(principal.sessionId);
    this.token = token;
    this.expiresAt = principal.expiresAt;
    this.lastVerified = performance.now();
    this.rate = new MessageRate(ctx.limits.ratePerSecond, ctx.limits.rateBurst);
    this.log = ctx.logger.child({ connection_id: this.id, account_id: this.accountId });
    this.socket = socketOf(ws);
  }

  /** Say hello, start listening, and resume `executions` when the URL carried `since`. */
  start(since: number | undefined): void {
    this.ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    this.ws.on('pong', () => {
      this.alive = true;
    });
    this.ws.on('error', (err: Error & { code?: string }) => {
      this.reason ??= err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'message_too_big' : 'error';
      this.closing = true;
    });
    this.sendFrame({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      instance_id: this.ctx.instanceId,
      connection_id: this.id,
      account_id: this.accountId,
      expires_at: this.expiresAt.toISOString(),
      heartbeat_seconds: this.ctx.limits.heartbeatMs / 1000,
      max_payload_bytes: this.ctx.limits.maxPayloadBytes,
      rate_limit: { per_second: this.ctx.limits.ratePerSecond, burst: this.ctx.limits.rateBurst },
    });
    this.scheduleExpiry();
    if (since !== undefined) this.enqueue(() => this.subscribeExecutions(since, undefined));
  }

  // ---- sending -----------------------------------------------------------------------------------

  /** False when closing; a socket whose unsent bytes passed the limit is closed as a slow consumer. */
  private canSend(): boolean {
    if (this.closing) return false;
    // What this tick wrote into the corked socket is not a backlog of the peer's.
    if (this.ws.bufferedAmount - this.corkedBytes > this.ctx.limits.maxBufferedBytes) {
      this.close(CloseCode.TryAgainLater, 'slow consumer', 'slow_consumer');
      return false;
    }
    return true;
  }

  /** A frame shared by many sockets (market fan-out, account events); the caller counts it. */
  sendShared(frame: SharedFrame): boolean {
    if (!this.canSend()) return false;
    if (this.socket && this.ws.readyState === OPEN) {
      if (this.corkedBytes === 0) {
        this.socket.cork();
        if (corked.push(this) === 1) process.nextTick(uncorkAll);
      }
      this.socket.write(frame.wire);
      this.corkedBytes += frame.wire.length;
    } else {
      this.ws.send(frame.payload, TEXT);
    }
    return true;
  }

  /** End of the tick: let the socket write what was corked. */
  uncork(): void {
    this.corkedBytes = 0;
    this.socket?.uncork();
  }

  /** A frame for this socket only. */
  sendFrame(frame: Frame): boolean {
    if (!this.canSend()) return false;
    this.ws.send(encode(frame), TEXT);
    this.ctx.telemetry.frames(frame.type, 1);
    return true;
  }

  private reply(frame: Frame, id: RequestId): void {
    this.sendFrame(withId(frame, id));
  }

  private error(code: ErrorCode, message: string, id?: RequestId, extra: Record<string, unknown> = {}): void {
    this.reply({ type: 'error', code, message, ...extra }, id);
  }

  private sendAccount(e: AccountEvent): boolean {
    let bytes = accountBytes.get(e.data);
    let type: FrameType | undefined;
    if (!bytes) {
      const frame = accountFrame(e);
      type = frame.type;
      bytes = sharedFrame(encode(frame));
      accountBytes.set(e.data, bytes);
    }
    if (!this.sendShared(bytes)) return false;
    this.ctx.telemetry.frames(type ?? frameTypeOf(e), 1);
    const ts = Date.parse(e.data.ts);
    if (Number.isFinite(ts)) this.ctx.telemetry.delivered(ts, 1);
    return true;
  }

  /** Resolves when the socket can take more (history replay), false when it closed meanwhile. */
  private async writable(): Promise<boolean> {
    const deadline = performance.now() + 30_000;
    while (!this.closing && this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes / 4) {
      if (performance.now() > deadline) {
        this.close(CloseCode.TryAgainLater, 'slow consumer', 'slow_consumer');
        return false;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return !this.closing;
  }

  // ---- receiving ---------------------------------------------------------------------------------

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closing) return;
    this.ctx.telemetry.received();
    if (!this.rate.take()) {
      this.error(ErrorCode.RateLimited, `More than ${this.ctx.limits.ratePerSecond} messages per second`);
      this.close(CloseCode.PolicyViolation, 'rate limit exceeded', 'rate_limited');
      return;
    }
    if (isBinary) {
      this.error(ErrorCode.BadRequest, 'Only text frames with JSON messages are accepted');
      return;
    }
    const text = Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data).toString('utf8');
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.error(ErrorCode.BadRequest, parsed.message, parsed.id);
      return;
    }
    const m = parsed.message;
    // Operations run one after another, so "subscribe then unsubscribe" keeps its order.
    this.enqueue(() => this.handle(m));
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((err: unknown) => {
      this.log.error('feed operation failed', { err });
      this.error(ErrorCode.Unavailable, 'The operation failed; try again');
    });
  }

  private async handle(m: ClientMessage): Promise<void> {
    if (this.closing) return;
    switch (m.op) {
      case 'ping':
        this.reply({ type: 'pong', ts: this.ctx.now().toISOString() }, m.id);
        return;
      case 'auth':
        return this.reauthenticate(m.token, m.id);
      case 'subscribe':
        if (m.channel === 'executions') return this.subscribeExecutions(m.since, m.id);
        return this.subscribeMarket(m.channel, m.symbol, m.id);
      case 'unsubscribe':
        if (m.channel === 'executions') {
          if (!this.executions)
            return this.error(ErrorCode.NotSubscribed, 'Not subscribed to executions', m.id);
          this.dropExecutions();
          return this.reply({ type: 'unsubscribed', channel: 'executions' }, m.id);
        }
        if (!this.market.delete(`${m.channel}:${m.symbol}`)) {
          return this.error(ErrorCode.NotSubscribed, `Not subscribed to ${m.channel} ${m.symbol}`, m.id);
        }
        this.ctx.market.unsubscribe(this, m.channel, m.symbol);
        return this.reply({ type: 'unsubscribed', channel: m.channel, symbol: m.symbol }, m.id);
    }
  }

  // ---- executions --------------------------------------------------------------------------------

  private async subscribeExecutions(since: number | undefined, id: RequestId): Promise<void> {
    this.dropExecutions(); // a second subscribe restarts the stream from its own `since`
    const stream = new AccountStream(this.accountId, this.ctx.history, {
      send: (e) => this.sendAccount(e),
      writable: () => this.writable(),
      historyGap: (from, to) =>
        this.error(ErrorCode.HistoryUnavailable, `Events ${from}..${to} are no longer available`, undefined, {
          from,
          to,
        }),
      sinceAhead: (s, last) =>
        this.error(
          ErrorCode.BadRequest,
          `since ${s} is ahead of the account's last seq ${last}; resuming from ${last}`,
          undefined,
          { seq: last },
        ),
      duplicate: () => this.ctx.telemetry.duplicate(),
      resync: (cause) => this.ctx.telemetry.resync(cause),
      fail: (err) => {
        this.log.error('account stream failed', { err });
        this.error(ErrorCode.Unavailable, 'The execution stream is unavailable; reconnect with since');
        this.close(CloseCode.InternalError, 'stream unavailable', 'error');
      },
    });
    const entry: Executions = { stream, release: () => {} };
    this.executions = entry;
    try {
      entry.release = await this.ctx.hub.subscribe(this.ctx.accountChannel(this.accountId), (raw) => {
        const e = toAccountEvent(raw);
        if (e) stream.onLive(e);
      });
    } catch (err) {
      if (this.executions === entry) this.executions = undefined;
      stream.close();
      this.log.warn('executions subscribe failed', { err });
      return this.error(ErrorCode.Unavailable, 'Cannot subscribe right now; try again', id);
    }
    if (this.closing || this.executions !== entry) {
      entry.release();
      return;
    }
    this.reply({ type: 'subscribed', channel: 'executions', ...(since === undefined ? {} : { since }) }, id);
    // Not awaited: a long replay must not hold up pings and other subscriptions.
    void stream.start(since).then((last) => {
      if (last !== undefined && this.executions === entry && !this.closing)
        this.sendFrame({ type: 'caught_up', channel: 'executions', seq: last });
    });
  }

  private dropExecutions(): void {
    const ex = this.executions;
    if (!ex) return;
    this.executions = undefined;
    ex.stream.close();
    ex.release();
  }

  /** The live account stream, for the server's sweep and resync. */
  get accountStream(): AccountStream | undefined {
    return this.executions?.stream;
  }

  // ---- market ------------------------------------------------------------------------------------

  private async subscribeMarket(channel: MarketChannel, symbol: string, id: RequestId): Promise<void> {
    const key = `${channel}:${symbol}`;
    if (this.market.has(key)) return this.reply({ type: 'subscribed', channel, symbol }, id);
    if (this.market.size >= this.ctx.limits.maxMarketSubscriptions) {
      return this.error(
        ErrorCode.TooManySubscriptions,
        `At most ${this.ctx.limits.maxMarketSubscriptions} market subscriptions per socket`,
        id,
      );
    }
    let listed: boolean;
    try {
      listed = await this.ctx.history.isListed(symbol);
    } catch (err) {
      this.log.warn('instrument lookup failed', { err });
      return this.error(ErrorCode.Unavailable, 'Cannot subscribe right now; try again', id);
    }
    if (!listed) return this.error(ErrorCode.UnknownSymbol, `Unknown symbol ${symbol}`, id, { symbol });
    // The ack goes first, then the snapshot (quotes, depth) from inside subscribe.
    this.market.add(key);
    this.reply({ type: 'subscribed', channel, symbol }, id);
    try {
      await this.ctx.market.subscribe(this, channel, symbol);
    } catch (err) {
      this.market.delete(key);
      this.log.warn('market subscribe failed', { err, symbol });
      return this.error(
        ErrorCode.Unavailable,
        `Cannot subscribe to ${channel} ${symbol} right now; try again`,
        id,
      );
    }
    if (this.closing) this.ctx.market.unsubscribe(this, channel, symbol);
  }

  // ---- the token ---------------------------------------------------------------------------------

  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    clearTimeout(this.warningTimer);
    const left = this.expiresAt.getTime() - this.ctx.now().getTime();
    const max = 2 ** 31 - 1;
    this.expiryTimer = setTimeout(
      () => this.close(CloseCode.TokenExpired, 'token expired', 'token_expired'),
      Math.min(Math.max(left, 0), max),
    );
    const warnIn = left - this.ctx.limits.expiryWarningMs;
    if (warnIn > 0 && warnIn < max) {
      this.warningTimer = setTimeout(
        () => this.sendFrame({ type: 'token_expiring', expires_at: this.expiresAt.toISOString() }),
        warnIn,
      );
    }
  }

  /** `auth`: a fresh token of the same user and account extends the socket's life. */
  private async reauthenticate(token: string, id: RequestId): Promise<void> {
    let v: VerifiedAccessToken;
    try {
      v = await this.ctx.authenticate(token);
    } catch (err) {
      if (isUnauthorized(err))
        return this.error(ErrorCode.InvalidToken, 'The access token is invalid or expired', id);
      this.log.warn('feed re-authentication failed', { err });
      return this.error(ErrorCode.Unavailable, 'Authentication is temporarily unavailable', id);
    }
    if (this.closing) return;
    if (v.accountId !== this.accountId || v.userId !== this.userId) {
      return this.error(ErrorCode.AccountMismatch, 'The token belongs to another account', id);
    }
    if (v.expiresAt.getTime() <= this.ctx.now().getTime())
      return this.error(ErrorCode.InvalidToken, 'The access token is expired', id);
    this.token = token;
    this.sessionIds.add(v.sessionId);
    this.expiresAt = v.expiresAt;
    this.lastVerified = performance.now();
    this.scheduleExpiry();
    this.reply({ type: 'authenticated', expires_at: v.expiresAt.toISOString() }, id);
  }

  // ---- liveness ----------------------------------------------------------------------------------

  /** Called by the server every heartbeat interval. */
  heartbeat(): void {
    if (this.closing) return;
    if (!this.alive) {
      this.terminate('heartbeat');
      return;
    }
    this.alive = false;
    this.ws.ping();
    if (performance.now() - this.lastVerified > this.ctx.limits.revalidateMs) void this.revalidate();
  }

  /** A revoked session (logout, refresh reuse) ends the socket too, not only new requests. */
  private async revalidate(): Promise<void> {
    this.lastVerified = performance.now();
    try {
      await this.ctx.authenticate(this.token);
    } catch (err) {
      if (!isUnauthorized(err)) return; // Redis hiccup: try again next time
      if (this.expiresAt.getTime() <= this.ctx.now().getTime())
        this.close(CloseCode.TokenExpired, 'token expired', 'token_expired');
      else this.close(CloseCode.SessionRevoked, 'session revoked', 'session_revoked');
    }
  }

  /** A revocation event (api/auth/revocation.ts) for this user or one of its sessions closes the socket. */
  revokedBy(event: RevocationEvent): boolean {
    if (this.closing) return false;
    if (event.user_id !== this.userId && !event.session_ids.some((id) => this.sessionIds.has(id)))
      return false;
    this.close(CloseCode.SessionRevoked, 'session revoked', 'session_revoked');
    return true;
  }

  // ---- closing -----------------------------------------------------------------------------------

  /** Server shutdown: tell the client to reconnect elsewhere, then close with 1012. */
  drain(retryAfterMs: number): void {
    if (this.closing) return;
    this.sendFrame({ type: 'reconnect', reason: 'server_shutdown', retry_after_ms: retryAfterMs });
    this.close(CloseCode.ServiceRestart, 'service restart', 'draining');
  }

  close(code: number, text: string, reason: DisconnectReason): void {
    if (this.closing) return;
    this.closing = true;
    this.reason ??= reason;
    this.cleanup();
    void closeWithin(this.ws, this.ctx.limits.closeGraceMs, code, text);
  }

  terminate(reason: DisconnectReason): void {
    this.closing = true;
    this.reason ??= reason;
    this.cleanup();
    this.ws.terminate();
  }

  /** Release subscriptions and timers; idempotent (also run when the peer closed). */
  cleanup(): void {
    this.closing = true;
    clearTimeout(this.expiryTimer);
    clearTimeout(this.warningTimer);
    this.dropExecutions();
    for (const key of this.market) {
      const [channel, symbol] = key.split(':') as [MarketChannel, string];
      this.ctx.market.unsubscribe(this, channel, symbol);
    }
    this.market.clear();
  }
}

/** The frame type `accountFrame` gives an event (for telemetry when its bytes were cached). */
const FRAME_TYPES: Record<AccountEvent['data']['event_type'], FrameType> = {
  [EventType.ExecutionReport]: 'execution',
  [EventType.OrderAccepted]: 'order_accepted',
};
const frameTypeOf = (e: AccountEvent): FrameType => FRAME_TYPES[e.data.event_type] ?? 'account_event';
