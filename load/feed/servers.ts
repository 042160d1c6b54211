/**
 * The servers of the feed benchmark, all in one process: the feed as api/main.ts builds it, and two bare
 * `ws` broadcast servers (plain, and with the feed's write batching).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import type { WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import { createApiMetrics } from '../../api/metrics.js';
import type { VerifiedAccessToken } from '../../api/auth/tokens.js';
import type { FeedHistory } from '../../api/ws/history.js';
import { createRedisHub } from '../../api/ws/hub.js';
import { socketOf } from '../../api/ws/wire.js';
import { createFeedServer, feedOptions } from '../../api/ws/server.js';
import type { Config } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis.js';
import { accountOf, BARE_TARGETS, SYMBOL, type Target } from './protocol.js';

export interface Servers {
  feedPort: number;
  barePorts: Record<(typeof BARE_TARGETS)[number], number>;
  /** Sockets connected to a server. */
  socketsOf(target: Target): number;
  /** Frames a server handed to its sockets so far. */
  sentBy(target: Target): Promise<number>;
  close(): Promise<void>;
}

/** The feed server as api/main.ts builds it and the two bare broadcast servers, in this process. */
export async function startServers(config: Config, prefix: string): Promise<Servers> {
  const logger = createLogger('warn', { bench: 'feed' });
  const redis = connectRedis(config.REDIS_URL, 'bench-feed');
  const metrics = createApiMetrics('bench');
  // A stand-in authenticator (token `bench-<i>` is account i) and an outbox that is empty: the
  // publisher's seqs are gap-free, so no stream ever reads history.
  const history: FeedHistory = {
    eventsAfter: async () => [],
    lastSeq: async () => 0,
    lastSeqs: async () => new Map(),
    isListed: async (symbol) => symbol === SYMBOL,
    bookSnapshot: async (symbol, now) => ({
      symbol,
      eventId: '',
      ts: now.toISOString(),
      tsMs: now.getTime(),
      quote: { bid: null, ask: null },
      depth: { bids: [], asks: [] },
      trades: [],
    }),
  };
  const authenticate = async (token: string): Promise<VerifiedAccessToken> => {
    const i = Number(token.replace('bench-', ''));
    return {
      userId: accountOf(i),
      accountId: accountOf(i),
      email: `bench-${i}@example.test`,
      role: 'client',
      sessionId: accountOf(i),
      jti: randomUUID(),
      expiresAt: new Date(Date.now() + 3600_000),
    };
  };
  const feed = createFeedServer({
    instanceId: 'bench',
    redisPrefix: prefix,
    logger,
    metrics,
    hub: createRedisHub(redis, logger, 'bench-feed-subscriber'),
    history,
    authenticate,
    now: () => new Date(),
    options: feedOptions(config, {
      allowedOrigins: '*',
      maxConnections: 5000,
      heartbeatMs: 3_600_000,
      sweepMs: 5_000,
    }),
  });
  const feedHttp = createServer((_req, res) => res.writeHead(404).end());
  feed.attach(feedHttp);
  const feedPort = await listen(feedHttp);

  // The bare broadcast servers: each with its own subscriber connection, every message to every socket.
  const feedSent = async () => (await metrics.wsFramesSent.get()).values.reduce((a, v) => a + v.value, 0);
  const bares = {} as Record<(typeof BARE_TARGETS)[number], BareServer>;
  for (const target of BARE_TARGETS)
    bares[target] = await bareServer(redis, `${prefix}${target}`, target === 'batched');
  return {
    feedPort,
    barePorts: { bare: bares.bare.port, batched: bares.batched.port },
    socketsOf: (target) => (target === 'feed' ? feed.connectionCount() : bares[target].clients.size),
    sentBy: async (target) => (target === 'feed' ? feedSent() : bares[target].sent),
    async close() {
      await feed.close();
      for (const b of Object.values(bares)) await b.close();
      await redis.quit();
      feedHttp.close();
    },
  };
}

interface BareServer {
  port: number;
  clients: Set<WebSocket>;
  sent: number;
  close(): Promise<void>;
}

/**
 * A bare broadcast server: its own subscriber connection, each message to every socket as it is.
 * `batched` adds the feed's write batching (every socket corked until the end of the tick), so that the
 * comparison can separate what the feed does per frame from how it writes.
 */
async function bareServer(redis: Redis, channel: string, batched: boolean): Promise<BareServer> {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const clients = new Set<WebSocket>();
  wss.on('connection', (ws) => {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('error', () => {});
  });
  const sub = redis.duplicate({ connectionName: `bench-${batched ? 'batched' : 'bare'}-subscriber` });
  await sub.subscribe(channel);
  const server: BareServer = {
    port: await listen(http),
    clients,
    sent: 0,
    async close() {
      wss.close();
      http.close();
      await sub.quit();
    },
  };
  const corked: Duplex[] = [];
  const uncork = () => {
    for (const s of corked) s.uncork();
    corked.length = 0;
  };
  sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
    if (batched) {
      if (corked.length === 0) process.nextTick(uncork);
      for (const ws of clients) {
        const socket = socketOf(ws);
        if (socket && socket.writableCorked === 0) {
          socket.cork();
          corked.push(socket);
        }
        ws.send(message, { binary: false });
      }
    } else {
      for (const ws of clients) ws.send(message, { binary: false });
    }
    server.sent += clients.size;
  });
  return server;
}

const listen = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
