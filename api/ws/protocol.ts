/**
 * The live feed's wire protocol (docs/feed-protocol.md): client operations, server frame types, error
 * codes and close codes. JSON text frames in both directions.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

/** Market channels are per symbol; `executions` is the caller's own account. */
export const MARKET_CHANNELS = ['quotes', 'depth', 'trades'] as const;
export type MarketChannel = (typeof MARKET_CHANNELS)[number];
export const CHANNELS = ['executions', ...MARKET_CHANNELS] as const;

const SYMBOL = /^[A-Z][A-Z0-9.]{0,9}$/;

/** A client message as parsed; combinations are checked by `parseClientMessage`. */
const RawMessage = z
  .object({
    op: z.enum(['subscribe', 'unsubscribe', 'ping', 'auth']),
    /** Echoed in the answer so a client can match replies to requests. */
    id: z.union([z.string().max(64), z.number().int().safe()]).optional(),
    channel: z.enum(CHANNELS).optional(),
    symbol: z
      .string()
      .trim()
      .toUpperCase()
      .pipe(z.string().regex(SYMBOL, 'must be a ticker symbol'))
      .optional(),
    since: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    token: z.string().min(1).max(4096).optional(),
  })
  .strict();

export type RequestId = string | number | undefined;

export type ClientMessage =
  | { op: 'subscribe'; id: RequestId; channel: 'executions'; since: number | undefined }
  | { op: 'subscribe'; id: RequestId; channel: MarketChannel; symbol: string }
  | { op: 'unsubscribe'; id: RequestId; channel: 'executions' }
  | { op: 'unsubscribe'; id: RequestId; channel: MarketChannel; symbol: string }
  | { op: 'ping'; id: RequestId }
  | { op: 'auth'; id: RequestId; token: string };

export type ParseResult =
  { ok: true; message: ClientMessage } | { ok: false; id: RequestId; message: string };

export function parseClientMessage(text: string): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, id: undefined, message: 'Message is not valid JSON' };
  }
  const parsed = RawMessage.safeParse(json);
  if (!parsed.success) {
    const rawId = (json as { id?: unknown } | null)?.id;
    const id = typeof rawId === 'string' || typeof rawId === 'number' ? rawId : undefined;
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return { ok: false, id, message: `${where}${issue?.message ?? 'invalid message'}` };
  }
  const m = parsed.data;
  switch (m.op) {
    case 'ping':
      return { ok: true, message: { op: 'ping', id: m.id } };
    case 'auth':
      if (!m.token) return { ok: false, id: m.id, message: 'token: is required for auth' };
      return { ok: true, message: { op: 'auth', id: m.id, token: m.token } };
    case 'subscribe':
    case 'unsubscribe': {
      if (!m.channel)
        return { ok: false, id: m.id, message: `channel: is required (${CHANNELS.join(', ')})` };
      if (m.channel === 'executions') {
        if (m.symbol !== undefined)
          return { ok: false, id: m.id, message: 'symbol: executions is not per symbol' };
        if (m.op === 'unsubscribe')
          return { ok: true, message: { op: 'unsubscribe', id: m.id, channel: 'executions' } };
        return { ok: true, message: { op: 'subscribe', id: m.id, channel: 'executions', since: m.since } };
      }
      if (!m.symbol) return { ok: false, id: m.id, message: `symbol: is required for ${m.channel}` };
      if (m.since !== undefined) return { ok: false, id: m.id, message: 'since: only executions can resume' };
      return { ok: true, message: { op: m.op, id: m.id, channel: m.channel, symbol: m.symbol } };
    }
  }
}

/** `error` frame codes. */
export const ErrorCode = {
  /** Not JSON, unknown op or field, missing channel or symbol. The socket stays open. */
  BadRequest: 'bad_request',
  /** The symbol is not a listed instrument. */
  UnknownSymbol: 'unknown_symbol',
  TooManySubscriptions: 'too_many_subscriptions',
  /** `unsubscribe` for something not subscribed. */
  NotSubscribed: 'not_subscribed',
  /** `auth` with a token that does not verify. */
  InvalidToken: 'invalid_token',
  /** `auth` with a token of another account or user. */
  AccountMismatch: 'account_mismatch',
  /** Too many messages: the socket is closed with 1008 right after. */
  RateLimited: 'rate_limited',
  /** Outbox history before this seq is gone; the stream continues after the gap. */
  HistoryUnavailable: 'history_unavailable',
  /** A dependency (Redis, Postgres) failed; retry the request. */
  Unavailable: 'unavailable',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes the server uses. */
export const CloseCode = {
  Normal: 1000,
  /** Flood (rate limit) or repeated protocol abuse. */
  PolicyViolation: 1008,
  /** A client frame above WS_MAX_PAYLOAD_BYTES (sent by `ws` itself). */
  MessageTooBig: 1009,
  InternalError: 1011,
  /** Server shutting down (after a `reconnect` frame): reconnect elsewhere. */
  ServiceRestart: 1012,
  /** Slow consumer: the socket's unsent bytes passed WS_MAX_BUFFERED_BYTES. */
  TryAgainLater: 1013,
  /** The access token expired and was not renewed with `auth`. */
  TokenExpired: 4001,
  /** The session was revoked (logout, refresh-token reuse). */
  SessionRevoked: 4003,
} as const;

/** Reasons counted in ws_disconnects_total. */
export type DisconnectReason =
  | 'client'
  | 'heartbeat'
  | 'slow_consumer'
  | 'rate_limited'
  | 'message_too_big'
  | 'token_expired'
  | 'session_revoked'
  | 'draining'
  | 'error';

/** Frame `type`s the server sends (label values of ws_frames_sent_total). */
export type FrameType =
  | 'welcome'
  | 'subscribed'
  | 'unsubscribed'
  | 'caught_up'
  | 'execution'
  | 'order_accepted'
  | 'account_event'
  | 'quote'
  | 'depth'
  | 'trade'
  | 'pong'
  | 'authenticated'
  | 'token_expiring'
  | 'error'
  | 'reconnect';
