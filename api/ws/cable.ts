/**
 * `/cable`: the seed's real-time clients, speaking the ActionCable protocol (`actioncable-v1-json`):
 * `welcome` on connect, a `ping` every 3 seconds, `subscribe` / `unsubscribe` commands answered with
 * `confirm_subscription` / `reject_subscription`, and `{identifier, message}` for channel data. Channels
 * (docs/feed-protocol.md, "/cable"):
 *
 * - `OrdersChannel` (no params): the seed's `orders:<account>` stream, a `trade` message per fill of
 *   the caller's orders.
 * - `OrdersChannel` with `order_id`: the `orders_status:<order_id>` stream, an `execution.report` per
 *   change of that order; only the owner may subscribe (anyone else is rejected).
 * - `MarketChannel` with `symbols` (and the seed's `mode`, ignored): `orderbook` and `quote` per
 *   symbol, a snapshot from Postgres at subscription, then every book change.
 *
 * After the Redis subscriber connection came back (what was published meanwhile is lost), every channel
 * reads Postgres again: OrdersChannel the events committed meanwhile, MarketChannel the books.
 *
 * Authentication is the seed's: the access token in the connection URL (`?token=<jwt>` or
 * `?token=Bearer <jwt>`), or an `Authorization: Bearer` header for non-browser clients. ActionCable
 * clients have no other way (browsers cannot set headers on a WebSocket and the protocol has no auth
 * message); the URL must therefore only travel over TLS, and upgrade URLs are never logged.
 * A missing, bad, expired or revoked token gets ActionCable's `disconnect` (`unauthorized`, no
 * reconnect), as Rails' `reject_unauthorized_connection` does; a token that cannot be checked right now
 * (Redis or Postgres down) gets `server_restart` with reconnect. A session revoked later (logout, password
 * change, suspension...) is disconnected the same way the moment its revocation event arrives (as on `/ws`,
 * revocations.ts); the periodic re-check stays as a backstop. Events come from the same Redis channels
 * as `/ws` (the outbox relay publishes them); ownership comes from the token only. Messages count against
 * `/ws`'s per-socket rate limit.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerType } from '@hono/node-server';
import type { RawData, WebSocket } from 'ws';
import { getOrderById } from '../../db/queries/orders.js';
import type { Logger } from '../../lib/logger.js';
import { CASH_SCALE, exactCount, toJsonNumber } from '../../lib/money.js';
import { accountChannel, marketChannel } from '../../lib/redis-keys.js';
import { revocationChannel, revokes, type RevocationEvent } from '../auth/revocation.js';
import type { VerifiedAccessToken } from '../auth/tokens.js';
import type { ApiDeps } from '../types.js';
import { AccountStream } from './account-stream.js';
import { feedAuthenticator, isUnauthorized, originAllowed, parseOrigins, type Authenticate } from './auth.js';
import {
  depthKey,
  quoteKey,
  toAccountEvent,
  toMarketUpdate,
  type AccountEvent,
  type MarketUpdate,
} from './frames.js';
import { postgresHistory, type FeedHistory } from './history.js';
import { createRedisHub, type FeedHub } from './hub.js';
import { newerBook, readBooks } from './market.js';
import { CloseCode } from './protocol.js';
import { MessageRate } from './rate.js';
import { listenForRevocations, REVOCATION_RETRY, type RevocationRetry } from './revocations.js';
import type { FeedServer } from './server.js';
import { CLOSE_GRACE_MS, closeWithin, feedSocketServer } from './wire.js';
import { EventType, type ExecutionReportPayload } from '../../temporal/events.js';

export const CABLE_PROTOCOL = 'actioncable-v1-json';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SYMBOL = /^[A-Z][A-Z0-9.]{0,9}$/;

export interface CableOptions extends RevocationRetry {
  path: string;
  allowedOrigins: string;
  maxPayloadBytes: number;
  /** A socket with more unsent bytes than this is a slow consumer and is closed. */
  maxBufferedBytes: number;
  maxConnections: number;
  /** ActionCable clients consider a connection stale after 6 s without a ping: 3 s, as Rails. */
  pingMs: number;
  /** How often a socket's session is checked again (a revoked session is disconnected). */
  revalidateMs: number;
  maxSubscriptions: number;
  maxSymbols: number;
  /** Messages per second and burst per socket, as on `/ws`; a flood is disconnected. */
  ratePerSecond: number;
  rateBurst: number;
  /** After the close frame, wait this long for the peer before cutting it off, as on `/ws`. */
  closeGraceMs: number;
}

export interface CableDeps {
  logger: Logger;
  hub: FeedHub;
  history: FeedHistory;
  authenticate: Authenticate;
  /** The account owning an order, undefined when there is no such order. */
  orderOwner(orderId: string): Promise<string | undefined>;
  redisPrefix: string;
  /** The pub/sub channel of revocation events: matching sockets are disconnected at once. */
  revocationChannel?: string;
  now: () => Date;
  draining?: () => boolean;
  options: CableOptions;
}

/** A FeedServer's lifecycle (drain sends ActionCable's `disconnect` with reconnect), and its path. */
export interface CableServer extends Pick<
  FeedServer,
  'handleUpgrade' | 'drain' | 'close' | 'connectionCount'
> {
  /** The upgrade path it serves (`/cable`). */
  path: string;
}

export function createApiCable(deps: ApiDeps, overrides: Partial<CableOptions> = {}): CableServer {
  const { config } = deps;
  return createCableServer({
    logger: deps.logger.child({ component: 'cable' }),
    hub: createRedisHub(deps.redis, deps.logger, `api-${config.INSTANCE_ID}-cable`),
    history: postgresHistory(deps.database),
    authenticate: feedAuthenticator(deps),
    orderOwner: async (id) => (await getOrderById(deps.database.db, id))?.accountId,
    redisPrefix: config.REDIS_PREFIX,
    revocationChannel: revocationChannel(config.REDIS_PREFIX),
    now: deps.now,
    draining: deps.draining,
    options: {
      path: '/cable',
      allowedOrigins: config.ALLOWED_ORIGINS,
      maxPayloadBytes: config.WS_MAX_PAYLOAD_BYTES,
      maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
      maxConnections: config.WS_MAX_CONNECTIONS,
      pingMs: 3000,
      revalidateMs: 60_000,
      maxSubscriptions: 50,
      maxSymbols: 50,
      ratePerSecond: config.WS_RATE_LIMIT_PER_SECOND,
      rateBurst: config.WS_RATE_LIMIT_BURST,
      closeGraceMs: CLOSE_GRACE_MS,
      ...REVOCATION_RETRY,
      ...overrides,
    },
  });
}

/** The token of an ActionCable connection: `?token=` (raw or `Bearer ...`) or the Authorization header. */
export function cableToken(req: IncomingMessage, url: URL): string | undefined {
  const raw = url.searchParams.get('token') ?? req.headers.authorization;
  const token = raw?.replace(/^Bearer\s+/i, '').trim();
  return token ? token : undefined;
}

type Message = Record<string, unknown>;
type Stop = () => void;

/**
 * A subscribed channel: its live streams, what it sends once confirmed (MarketChannel's books,
 * OrdersChannel's events since it subscribed), and how it catches up after the Redis subscriber
 * connection came back (what was published meanwhile is lost).
 */
interface Channel {
  stop: Stop;
  snapshot?: () => Promise<void>;
  resync: () => void;
}

/**
 * ActionCable's `disconnect`, then the close: 1012 by default when the client should come back. Resolves
 * once the socket is closed: a peer that does not answer within `graceMs` is cut off (`closeWithin`).
 */
function sendDisconnect(
  ws: WebSocket,
  graceMs: number,
  reason: string,
  reconnect: boolean,
  code: number = reconnect ? CloseCode.ServiceRestart : CloseCode.Normal,
): Promise<void> {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'disconnect', reason, reconnect }));
  return closeWithin(ws, graceMs, code);
}

const money = (cents: number | undefined): number | null =>
  cents === undefined ? null : toJsonNumber(BigInt(cents), CASH_SCALE);
/** Cents as the event contract's decimal string (temporal/events.ts) to dollars. */
const dollars = (cents: string | null): number | null =>
  cents === null ? null : toJsonNumber(BigInt(cents), CASH_SCALE);

/** The execution report of an account event with a fill, or undefined. */
const fillOf = (e: AccountEvent): ExecutionReportPayload | undefined =>
  e.data.event_type === EventType.ExecutionReport && BigInt(e.data.fill_qty) > 0n ? e.data : undefined;

/** The seed's `orders:<account>` message: one per fill. */
function tradeMessage(e: AccountEvent): Message | undefined {
  const d = fillOf(e);
  if (!d) return undefined;
  return {
    type: 'trade',
    order_id: d.order_id,
    quantity: exactCount(d.fill_qty),
    price: dollars(d.fill_price),
    side: d.side,
    trade_id: d.fill_id,
    ts: d.ts,
  };
}

/** The seed's `orders_status:<order_id>` message: the order's status, with the fill when there is one. */
function statusMessage(e: AccountEvent, orderId: string): Message | undefined {
  const d = e.data;
  if (d.event_type !== EventType.ExecutionReport || d.order_id !== orderId) return undefined;
  const fill = fillOf(e);
  return {
    type: 'execution.report',
    order_id: d.order_id,
    status: d.status,
    exec_type: d.exec_type,
    quantity: fill ? exactCount(fill.fill_qty) : null,
    price: fill ? dollars(fill.fill_price) : null,
    cum_qty: exactCount(d.cum_qty),
    leaves_qty: exactCount(d.leaves_qty),
    ts: d.ts,
  };
}

/** The seed's MarketChannel messages for one book: `orderbook` (levels as [price, quantity]) and `quote`. */
function marketMessages(m: MarketUpdate): Message[] {
  const levels = (ls: { price: number; qty: number }[] | undefined) =>
    (ls ?? []).map((l) => [money(l.price), l.qty]);
  const bid = m.quote?.bid?.price;
  const ask = m.quote?.ask?.price;
  const mid = bid !== undefined && ask !== undefined ? toJsonNumber(BigInt(bid + ask) * 5n, 3) : null;
  return [
    {
      type: 'orderbook',
      symbol: m.symbol,
      bids: levels(m.depth?.bids),
      asks: levels(m.depth?.asks),
      ts: m.ts,
    },
    { type: 'quote', symbol: m.symbol, bid: money(bid), ask: money(ask), mid, ts: m.ts },
  ];
}

export function createCableServer(deps: CableDeps): CableServer {
  const { options, logger, hub, history } = deps;
  const origins = parseOrigins(options.allowedOrigins);
  // ActionCable clients offer actioncable-v1-json (and actioncable-unsupported); the seed's k6 script offers none.
  const wss = feedSocketServer(options.maxPayloadBytes, CABLE_PROTOCOL);
  const connections = new Set<CableConnection>();
  let draining = false;

  class CableConnection {
    private readonly subs = new Map<string, Promise<Channel | undefined>>();
    private closed = false;
    private lastCheck = Date.now();
    private readonly rate = new MessageRate(options.ratePerSecond, options.rateBurst);
    /** Set by `disconnect`: resolves once the socket is closed (answered, or cut off). */
    gone: Promise<void> = Promise.resolve();

    constructor(
      readonly ws: WebSocket,
      private principal: VerifiedAccessToken,
      private readonly token: string,
    ) {}

    start(): void {
      this.ws.on('message', (data, isBinary) => this.receive(data, isBinary));
      this.ws.once('close', () => this.cleanup());
      this.send({ type: 'welcome' });
    }

    send(msg: Message): void {
      if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
      if (this.ws.bufferedAmount > options.maxBufferedBytes) return this.disconnect('slow_consumer', true);
      this.ws.send(JSON.stringify(msg));
    }

    disconnect(reason: string, reconnect: boolean, code?: number): void {
      if (this.closed) return;
      this.gone = sendDisconnect(this.ws, options.closeGraceMs, reason, reconnect, code);
      this.closed = true;
      this.cleanup();
    }

    /** The 3 s tick: a ping, the token's expiry, and now and then the session. */
    tick(): void {
      const now = deps.now();
      if (this.principal.expiresAt.getTime() <= now.getTime()) return this.disconnect('unauthorized', false);
      this.send({ type: 'ping', message: Math.floor(now.getTime() / 1000) });
      if (Date.now() - this.lastCheck < options.revalidateMs) return;
      this.lastCheck = Date.now();
      deps.authenticate(this.token).then(
        (p) => (this.principal = p),
        // As on /ws: only a 401 ends the socket; with Redis or Postgres down the next check tries again.
        (err: unknown) => {
          if (isUnauthorized(err)) this.disconnect('unauthorized', false);
        },
      );
    }

    /** The Redis subscriber connection came back: every channel catches up. */
    resync(): void {
      for (const pending of this.subs.values()) void pending.then((channel) => channel?.resync());
    }

    /** Disconnects the socket (as the re-check would) when `event` ends its session; true if it did. */
    revokedBy(event: RevocationEvent): boolean {
      if (this.closed || !revokes(event, this.principal.userId, this.principal.sessionId)) return false;
      this.disconnect('unauthorized', false);
      return true;
    }

    private receive(data: RawData, isBinary: boolean): void {
      if (this.closed) return;
      // Every message counts, as on /ws: a subscribe costs Redis and Postgres work.
      if (!this.rate.take()) return this.disconnect('rate_limited', true, CloseCode.PolicyViolation);
      let cmd: Message;
      try {
        if (isBinary || !Buffer.isBuffer(data)) throw new Error('not a text frame');
        cmd = JSON.parse(data.toString('utf8')) as Message;
        if (typeof cmd !== 'object' || cmd === null) throw new Error('not an object');
      } catch {
        return this.disconnect('invalid_request', false);
      }
      const identifier = cmd.identifier;
      if (typeof identifier !== 'string') return;
      if (cmd.command === 'subscribe') void this.subscribe(identifier);
      else if (cmd.command === 'unsubscribe') this.unsubscribe(identifier);
      // `message` (a channel action): the seed's channels have none; like Rails, nothing is answered.
    }

    private async subscribe(identifier: string): Promise<void> {
      if (this.subs.has(identifier)) return; // Rails ignores a repeated subscription too
      if (this.subs.size >= options.maxSubscriptions)
        return this.send({ identifier, type: 'reject_subscription' });
      const pending = this.open(identifier, (message) => this.send({ identifier, message })).catch(
        (err: unknown) => {
          logger.warn('cable subscription failed', { err });
          return undefined;
        },
      );
      this.subs.set(identifier, pending);
      const channel = await pending;
      if (!channel) {
        if (this.subs.get(identifier) === pending) this.subs.delete(identifier);
        return this.send({ identifier, type: 'reject_subscription' });
      }
      // Unsubscribed or closed while Redis confirmed: stop right away.
      if (this.closed || this.subs.get(identifier) !== pending) return channel.stop();
      this.send({ identifier, type: 'confirm_subscription' });
      await channel.snapshot?.();
    }

    private unsubscribe(identifier: string): void {
      const pending = this.subs.get(identifier);
      if (!pending) return;
      this.subs.delete(identifier);
      void pending.then((channel) => channel?.stop());
    }

    /** Start a channel's streams; undefined rejects the subscription. */
    private async open(identifier: string, transmit: (m: Message) => void): Promise<Channel | undefined> {
      const params = parseIdentifier(identifier);
      const account = this.principal.accountId;
      if (params?.channel === 'OrdersChannel') {
        const orderId = params.order_id;
        let toMessage: (e: AccountEvent) => Message | undefined = tradeMessage;
        if (orderId !== undefined) {
          if (
            typeof orderId !== 'string' ||
            !UUID.test(orderId) ||
            (await deps.orderOwner(orderId)) !== account
          )
            return undefined;
          toMessage = (e) => statusMessage(e, orderId);
        }
        // Each event once, in seq order, as /ws's executions: the relay delivers at least once (one that
        // dies after publishing, before marking its rows done, leaves them to the next relay to publish
        // again), and pub/sub may lose or reorder. `since` is read before the subscription: what commits
        // meanwhile comes from Postgres.
        const stream = new AccountStream(account, history, {
          send: (e) => {
            const m = toMessage(e);
            if (m) transmit(m);
            return !this.closed;
          },
          writable: async () => !this.closed,
          historyGap: () => {},
          sinceAhead: () => {},
          duplicate: () => {},
          resync: () => {},
          fail: (err) => {
            logger.warn('cable orders stream failed', { err });
            this.disconnect('server_restart', true, CloseCode.TryAgainLater);
          },
        });
        const since = await history.lastSeq(account);
        const release = await hub.subscribe(accountChannel(deps.redisPrefix, account), (raw) => {
          const e = toAccountEvent(raw);
          if (e) stream.onLive(e);
        });
        return {
          stop: () => {
            stream.close();
            release();
          },
          snapshot: async () => void (await stream.start(since)),
          resync: () => stream.resync('redis_reconnect'),
        };
      }
      if (params?.channel === 'MarketChannel') {
        const symbols = symbolsOf(params.symbols, options.maxSymbols);
        if (!symbols) return undefined;
        for (const s of symbols) if (!(await history.isListed(s))) return undefined;
        /** The newest book sent per symbol: a live update, or one read from Postgres. */
        const latest = new Map<string, MarketUpdate>();
        const subscribed = await Promise.allSettled(
          symbols.map((s) =>
            hub.subscribe(marketChannel(deps.redisPrefix, s), (raw) => {
              const m = toMarketUpdate(raw);
              if (!m || !newerBook(m, latest.get(s))) return;
              latest.set(s, m);
              for (const msg of marketMessages(m)) transmit(msg);
            }),
          ),
        );
        const stops = subscribed.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        const stop = () => stops.forEach((release) => release());
        const failed = subscribed.find((r) => r.status === 'rejected');
        if (failed) {
          stop(); // the symbols that did subscribe must not outlive the rejected subscription
          throw failed.reason;
        }
        /** Books from Postgres, sent where they differ from the last one sent (readBooks, as on /ws). */
        const books = (list: string[]) =>
          readBooks(
            list,
            (s) => latest.get(s),
            { history, now: deps.now, logger },
            (s, book) => {
              const sent = latest.get(s);
              latest.set(s, book);
              if (sent && quoteKey(sent) === quoteKey(book) && depthKey(sent) === depthKey(book)) return;
              for (const msg of marketMessages(book)) transmit(msg);
            },
          );
        return {
          stop,
          snapshot: () => books(symbols.filter((s) => !latest.has(s))), // no live update came first
          resync: () => void books(symbols),
        };
      }
      return undefined;
    }

    cleanup(): void {
      this.closed = true;
      for (const identifier of [...this.subs.keys()]) this.unsubscribe(identifier);
      connections.delete(this);
    }
  }

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://cable.invalid');
    if (draining || (deps.draining?.() ?? false) || connections.size >= options.maxConnections)
      return void socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
    if (!originAllowed(req.headers.origin, origins))
      return void socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    const token = cableToken(req, url);
    let principal: VerifiedAccessToken | undefined;
    let unavailable = false;
    if (token)
      principal = await deps.authenticate(token).catch((err: unknown) => {
        // Only a 401 says the token is bad; Redis or Postgres down (503) says nothing about it.
        if (!isUnauthorized(err)) {
          unavailable = true;
          logger.warn('cable authentication failed', { err });
        }
        return undefined;
      });
    if (principal && principal.expiresAt.getTime() <= deps.now().getTime()) principal = undefined;
    if (socket.destroyed) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const grace = options.closeGraceMs;
      if (unavailable) return void sendDisconnect(ws, grace, 'server_restart', true, CloseCode.TryAgainLater);
      // As Rails' reject_unauthorized_connection: the client is told not to reconnect.
      if (!principal || !token) return void sendDisconnect(ws, grace, 'unauthorized', false);
      const conn = new CableConnection(ws, principal, token);
      connections.add(conn);
      conn.start();
    });
  }

  const pings = setInterval(() => {
    for (const c of connections) c.tick();
  }, options.pingMs);
  pings.unref();

  const stopRevocations = deps.revocationChannel
    ? listenForRevocations(hub, deps.revocationChannel, options, logger, (event) => {
        let n = 0;
        for (const c of [...connections]) if (c.revokedBy(event)) n++;
        return n;
      })
    : undefined;

  const stopResync = hub.onResync(() => {
    for (const c of connections) c.resync();
  });

  async function drain(): Promise<void> {
    draining = true;
    const open = [...connections];
    for (const c of open) c.disconnect('server_restart', true);
    // Closed, or cut off after closeGraceMs: a client that does not answer cannot hold the shutdown up.
    await Promise.all(open.map((c) => c.gone));
  }

  return {
    path: options.path,
    handleUpgrade(req, socket, head) {
      socket.on('error', () => {}); // a client that vanishes mid-handshake must not crash the process
      upgrade(req, socket, head).catch((err: unknown) => {
        logger.error('cable upgrade failed', { err });
        socket.destroy();
      });
    },
    drain,
    async close() {
      await drain();
      clearInterval(pings);
      stopResync();
      stopRevocations?.();
      wss.close();
      await hub.close();
    },
    connectionCount: () => connections.size,
  };
}

/** The http server's one `upgrade` listener: the cable's path to it, every other path to `/ws` (which 404s the rest). */
export function attachUpgrades(server: ServerType, feed: FeedServer, cable: CableServer): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://upgrade.invalid').pathname;
    (path === cable.path ? cable : feed).handleUpgrade(req, socket, head);
  });
}

/** The identifier's params (ActionCable sends them as a JSON string), or undefined when malformed. */
function parseIdentifier(identifier: string): (Message & { channel: string }) | undefined {
  try {
    const p = JSON.parse(identifier) as unknown;
    if (typeof p === 'object' && p !== null && typeof (p as Message).channel === 'string')
      return p as Message & { channel: string };
  } catch {
    // not JSON: no such channel
  }
  return undefined;
}

function symbolsOf(raw: unknown, max: number): string[] | undefined {
  const list = (Array.isArray(raw) ? raw : [raw]).filter((s) => s !== undefined && s !== null);
  if (list.length === 0 || list.length > max || list.some((s) => typeof s !== 'string')) return undefined;
  const symbols = [...new Set((list as string[]).map((s) => s.trim().toUpperCase()))];
  return symbols.every((s) => SYMBOL.test(s)) ? symbols : undefined;
}
