/**
 * `/ws`: the live feed of one api process (docs/feed-protocol.md).
 *
 * The upgrade is authenticated before the WebSocket exists: no token, a bad or expired token, or a
 * revoked session get an HTTP 401 on the raw socket, a foreign Origin a 403. Sockets share one Redis
 * subscriber (hub.ts); account streams resume from Postgres (account-stream.ts); market channels fan
 * out the same bytes to every subscriber (market.ts). On shutdown every client gets `reconnect` and a
 * 1012 close.
 */
import { randomInt } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerType } from '@hono/node-server';
import type { Counter } from 'prom-client';
import type { WebSocket } from 'ws';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { accountChannel, marketChannel } from '../../lib/redis-keys.js';
import { revocationChannel } from '../auth/revocation.js';
import type { VerifiedAccessToken } from '../auth/tokens.js';
import type { ApiMetrics } from '../metrics.js';
import { problemBody, type ProblemCode } from '../problem.js';
import type { ApiDeps } from '../types.js';
import {
  BEARER_PROTOCOL,
  feedAuthenticator,
  isApiError,
  originAllowed,
  parseOrigins,
  upgradeToken,
  type Authenticate,
} from './auth.js';
import { FeedConnection, type ConnectionContext, type FeedLimits } from './connection.js';
import { postgresHistory, type FeedHistory } from './history.js';
import { createRedisHub, type FeedHub } from './hub.js';
import { MarketFeed } from './market.js';
import type { FrameType } from './protocol.js';
import { listenForRevocations, REVOCATION_RETRY, type RevocationRetry } from './revocations.js';
import { CLOSE_GRACE_MS, feedSocketServer } from './wire.js';

export type FeedMetrics = Pick<
  ApiMetrics,
  | 'wsConnections'
  | 'wsUpgrades'
  | 'wsFramesSent'
  | 'wsMessagesReceived'
  | 'wsDisconnects'
  | 'wsDelivery'
  | 'wsResyncs'
  | 'wsDuplicatesDropped'
>;

export interface FeedOptions extends FeedLimits, RevocationRetry {
  path: string;
  allowedOrigins: string;
  maxConnections: number;
  maxConnectionsPerAccount: number;
  sweepMs: number;
  /** How long `drain` waits for clients to close before cutting them off. */
  drainTimeoutMs: number;
}

export function feedOptions(config: Config, overrides: Partial<FeedOptions> = {}): FeedOptions {
  return {
    path: '/ws',
    allowedOrigins: config.ALLOWED_ORIGINS,
    maxPayloadBytes: config.WS_MAX_PAYLOAD_BYTES,
    heartbeatMs: config.WS_HEARTBEAT_SECONDS * 1000,
    maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
    ratePerSecond: config.WS_RATE_LIMIT_PER_SECOND,
    rateBurst: config.WS_RATE_LIMIT_BURST,
    maxConnections: config.WS_MAX_CONNECTIONS,
    maxConnectionsPerAccount: config.WS_MAX_CONNECTIONS_PER_ACCOUNT,
    sweepMs: config.WS_SWEEP_SECONDS * 1000,
    maxMarketSubscriptions: 50,
    revalidateMs: 60_000,
    expiryWarningMs: 60_000,
    closeGraceMs: CLOSE_GRACE_MS,
    drainTimeoutMs: 2_000,
    ...REVOCATION_RETRY,
    ...overrides,
  };
}

export interface FeedServerDeps {
  instanceId: string;
  redisPrefix: string;
  logger: Logger;
  metrics: FeedMetrics;
  hub: FeedHub;
  history: FeedHistory;
  authenticate: Authenticate;
  /** The pub/sub channel of revocation events: matching sockets close at once (api/auth/revocation.ts). */
  revocationChannel?: string;
  now: () => Date;
  /** True once the process is shutting down: new upgrades get 503. */
  draining?: () => boolean;
  options: FeedOptions;
}

export interface FeedServer {
  /** The http server's `upgrade` listener. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** `server.on('upgrade', handleUpgrade)`. */
  attach(server: ServerType): void;
  /** Send `reconnect` and close every socket with 1012; new upgrades get 503. */
  drain(): Promise<void>;
  /** Drain, then stop timers and the Redis subscriber. */
  close(): Promise<void>;
  connectionCount(): number;
}

/** The feed of an api built from `ApiDeps` (api/main.ts and the tests). */
export function createApiFeed(deps: ApiDeps, overrides: Partial<FeedOptions> = {}): FeedServer {
  const { config } = deps;
  return createFeedServer({
    instanceId: config.INSTANCE_ID,
    redisPrefix: config.REDIS_PREFIX,
    logger: deps.logger.child({ component: 'feed' }),
    metrics: deps.metrics,
    hub: createRedisHub(deps.redis, deps.logger, `api-${config.INSTANCE_ID}-feed`),
    history: postgresHistory(deps.database),
    authenticate: feedAuthenticator(deps),
    revocationChannel: revocationChannel(config.REDIS_PREFIX),
    now: deps.now,
    draining: deps.draining,
    options: feedOptions(config, overrides),
  });
}

export function createFeedServer(deps: FeedServerDeps): FeedServer {
  const { options, metrics, logger, hub, history } = deps;
  const origins = parseOrigins(options.allowedOrigins);
  // A token offered as `Sec-WebSocket-Protocol: bearer, <token>` is never echoed: the answer is `bearer`.
  const wss = feedSocketServer(options.maxPayloadBytes, BEARER_PROTOCOL);
  const connections = new Set<FeedConnection>();
  const perAccount = new Map<string, number>();
  let draining = false;
  let closed = false;

  const frameCounters = new Map<FrameType, Counter.Internal>();
  const telemetry: ConnectionContext['telemetry'] = {
    frames(type, n) {
      if (n <= 0) return;
      let c = frameCounters.get(type);
      if (!c) frameCounters.set(type, (c = metrics.wsFramesSent.labels(type)));
      c.inc(n);
    },
    delivered(eventMs, n) {
      const seconds = Math.max(0, (Date.now() - eventMs) / 1000);
      for (let i = 0; i < n; i++) metrics.wsDelivery.observe(seconds);
    },
    received: () => metrics.wsMessagesReceived.inc(),
    duplicate: () => metrics.wsDuplicatesDropped.inc(),
    resync: (cause) => metrics.wsResyncs.inc({ cause }),
  };

  const market = new MarketFeed(
    hub,
    history,
    (s) => marketChannel(deps.redisPrefix, s),
    telemetry,
    logger,
    deps.now,
  );
  const ctx: ConnectionContext = {
    instanceId: deps.instanceId,
    limits: options,
    logger,
    hub,
    history,
    market,
    authenticate: deps.authenticate,
    now: deps.now,
    accountChannel: (id) => accountChannel(deps.redisPrefix, id),
    telemetry,
  };

  const isDraining = () => draining || (deps.draining?.() ?? false);

  function refuse(
    socket: Duplex,
    code: ProblemCode,
    detail: string,
    headers: Record<string, string> = {},
  ): void {
    const body = JSON.stringify({ ...problemBody(code, detail), instance: options.path });
    const status = problemBody(code).status;
    metrics.wsUpgrades.inc({ status: String(status) });
    if (socket.destroyed) return;
    const head = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
      'Connection: close',
      'Content-Type: application/problem+json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `X-Instance: ${deps.instanceId}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://feed.invalid');
    if (url.pathname !== options.path)
      return refuse(socket, 'not_found', `No WebSocket endpoint at ${url.pathname}`);
    if (isDraining())
      return refuse(socket, 'service_unavailable', 'This instance is shutting down', { 'Retry-After': '1' });
    if (!originAllowed(req.headers.origin, origins)) return refuse(socket, 'forbidden', 'Origin not allowed');
    let token: string | undefined;
    try {
      token = upgradeToken(req, url);
    } catch {
      return refuse(
        socket,
        'unauthorized',
        'Send the token as "Authorization: Bearer <token>" or the subprotocols "bearer, <token>"',
        {
          'WWW-Authenticate': 'Bearer realm="brokerx", error="invalid_token"',
        },
      );
    }
    if (!token)
      return refuse(socket, 'unauthorized', 'An access token is required', {
        'WWW-Authenticate': 'Bearer realm="brokerx"',
      });
    const sinceText = url.searchParams.get('since');
    if (sinceText !== null && !/^\d{1,15}$/.test(sinceText))
      return refuse(socket, 'bad_request', 'since must be a non-negative integer');
    if (connections.size >= options.maxConnections)
      return refuse(socket, 'service_unavailable', 'Too many connections on this instance', {
        'Retry-After': '1',
      });

    let principal: VerifiedAccessToken;
    try {
      principal = await deps.authenticate(token);
    } catch (err) {
      if (!isApiError(err)) throw err;
      const headers: Record<string, string> = { ...err.headers };
      return refuse(socket, err.code, err.message, headers);
    }
    if (principal.expiresAt.getTime() <= deps.now().getTime()) {
      return refuse(socket, 'unauthorized', 'The access token is invalid or expired', {
        'WWW-Authenticate': 'Bearer realm="brokerx", error="invalid_token"',
      });
    }
    if ((perAccount.get(principal.accountId) ?? 0) >= options.maxConnectionsPerAccount) {
      return refuse(socket, 'too_many_requests', 'Too many feed connections for this account', {
        'Retry-After': '5',
      });
    }
    if (socket.destroyed) return;
    if (isDraining())
      return refuse(socket, 'service_unavailable', 'This instance is shutting down', { 'Retry-After': '1' });
    const since = sinceText === null ? undefined : Number(sinceText);
    wss.handleUpgrade(req, socket, head, (ws) => open(ws, principal, token, since));
  }

  function open(
    ws: WebSocket,
    principal: VerifiedAccessToken,
    token: string,
    since: number | undefined,
  ): void {
    metrics.wsUpgrades.inc({ status: '101' });
    const conn = new FeedConnection(ws, principal, token, ctx);
    connections.add(conn);
    perAccount.set(conn.accountId, (perAccount.get(conn.accountId) ?? 0) + 1);
    metrics.wsConnections.inc();
    ws.once('close', () => {
      connections.delete(conn);
      const n = (perAccount.get(conn.accountId) ?? 1) - 1;
      if (n > 0) perAccount.set(conn.accountId, n);
      else perAccount.delete(conn.accountId);
      metrics.wsConnections.dec();
      metrics.wsDisconnects.inc({ reason: conn.reason ?? 'client' });
      conn.cleanup();
    });
    conn.start(since);
  }

  // One timer per process drives heartbeats (and session re-checks) for every socket.
  const heartbeat = setInterval(() => {
    for (const c of connections) c.heartbeat();
  }, options.heartbeatMs);
  heartbeat.unref();

  // Sweep: account streams behind the committed seq for two sweeps in a row lost messages.
  let sweeping = false;
  const sweep = setInterval(() => {
    if (sweeping) return;
    const byAccount = new Map<string, FeedConnection[]>();
    for (const c of connections) {
      if (!c.accountStream?.live) continue;
      const list = byAccount.get(c.accountId);
      if (list) list.push(c);
      else byAccount.set(c.accountId, [c]);
    }
    if (byAccount.size === 0) return;
    sweeping = true;
    history
      .lastSeqs([...byAccount.keys()])
      .then((seqs) => {
        for (const [account, conns] of byAccount) {
          const committed = seqs.get(account);
          if (committed === undefined) continue;
          for (const c of conns) c.accountStream?.checkCommitted(committed);
        }
      })
      .catch((err: unknown) => logger.warn('feed sweep failed', { err }))
      .finally(() => {
        sweeping = false;
      });
  }, options.sweepMs);
  sweep.unref();

  const stopRevocations = deps.revocationChannel
    ? listenForRevocations(hub, deps.revocationChannel, options, logger, (event) => {
        let n = 0;
        for (const c of connections) if (c.revokedBy(event)) n++;
        return n;
      })
    : undefined;

  const stopResync = hub.onResync(() => {
    for (const c of connections) c.accountStream?.resync('redis_reconnect');
    void market.resync();
  });

  async function drain(): Promise<void> {
    draining = true;
    for (const c of connections) c.drain(randomInt(100, 2000));
    const deadline = performance.now() + options.drainTimeoutMs;
    while (connections.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of connections) c.terminate('draining');
  }

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', () => {}); // a client that vanishes mid-handshake must not crash the process
      upgrade(req, socket, head).catch((err: unknown) => {
        logger.error('feed upgrade failed', { err });
        refuse(socket, 'internal_error', 'An unexpected error occurred');
      });
    },
    attach(server) {
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
        this.handleUpgrade(req, socket, head),
      );
    },
    drain,
    async close() {
      if (closed) return;
      closed = true;
      await drain();
      clearInterval(heartbeat);
      clearInterval(sweep);
      stopResync();
      stopRevocations?.();
      wss.close();
      await hub.close();
    },
    connectionCount: () => connections.size,
  };
}
