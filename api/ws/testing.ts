/**
 * Helpers for the feed's integration tests: serve an api with its feed on a real port, and a small
 * client that records frames and waits for the ones a test expects.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { WebSocket, type ClientOptions } from 'ws';
import type { App } from '../app.js';
import type { ApiDeps } from '../types.js';
import { attachUpgrades, createApiCable, type CableOptions, type CableServer } from './cable.js';
import { createApiFeed, type FeedOptions, type FeedServer } from './server.js';

export interface ServedFeed {
  /** ws://127.0.0.1:<port>/ws */
  url: string;
  /** ws://127.0.0.1:<port>/cable */
  cableUrl: string;
  port: number;
  feed: FeedServer;
  cable: CableServer;
  server: ServerType;
  close(): Promise<void>;
}

/** Serve `app` with its feed and cable on `port` (a free one by default). */
export async function serveWithFeed(
  app: App,
  deps: ApiDeps,
  overrides: Partial<FeedOptions> = {},
  port = 0,
  cableOverrides: Partial<CableOptions> = {},
): Promise<ServedFeed> {
  const feed = createApiFeed(deps, overrides);
  const cable = createApiCable(deps, cableOverrides);
  let server!: ServerType;
  const listening = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve(info.port),
    );
    attachUpgrades(server, feed, cable);
  });
  return {
    url: `ws://127.0.0.1:${listening}/ws`,
    cableUrl: `ws://127.0.0.1:${listening}/cable`,
    port: listening,
    feed,
    cable,
    server,
    async close() {
      await feed.close();
      await cable.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Frame = Record<string, unknown> & { type: string };

export interface FeedClient {
  ws: WebSocket;
  welcome: Frame;
  /** Every frame received, in order. */
  frames: Frame[];
  send(message: unknown): void;
  /** The first frame (from index `from`) matching `pred`, waiting for it if needed. */
  waitFor(pred: (f: Frame) => boolean, opts?: { timeoutMs?: number; from?: number }): Promise<Frame>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  token?: string;
  /** Put the token in `?token=` (deprecated) instead of the Authorization header. */
  tokenInQuery?: boolean;
  /** Offer the token as subprotocols `bearer, <token>` (what browsers do) instead of the header. */
  tokenInProtocol?: boolean;
  since?: number;
  origin?: string;
  ws?: ClientOptions;
}

function target(url: string, opts: ConnectOptions): { href: string; options: ClientOptions } {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  if (opts.token && !opts.tokenInQuery && !opts.tokenInProtocol)
    headers.authorization = `Bearer ${opts.token}`;
  if (opts.token && opts.tokenInQuery) u.searchParams.set('token', opts.token);
  if (opts.since !== undefined) u.searchParams.set('since', String(opts.since));
  if (opts.origin) headers.origin = opts.origin;
  return { href: u.toString(), options: { ...opts.ws, headers: { ...headers, ...opts.ws?.headers } } };
}

/** Open a socket and wait for `welcome`; rejects with the HTTP status when the upgrade is refused. */
export function connectFeed(url: string, opts: ConnectOptions = {}): Promise<FeedClient> {
  const { href, options } = target(url, opts);
  const ws =
    opts.token && opts.tokenInProtocol
      ? new WebSocket(href, ['bearer', opts.token], options)
      : new WebSocket(href, options);
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data: Buffer) => {
    frames.push(JSON.parse(data.toString('utf8')) as Frame);
    for (const w of waiters) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code: number, reason: Buffer) => {
      resolve({ code, reason: reason.toString() });
      for (const w of waiters) w();
    });
  });
  ws.on('error', () => {});

  const client: Omit<FeedClient, 'welcome'> = {
    ws,
    frames,
    send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)),
    waitFor(pred, { timeoutMs = 15_000, from = 0 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let i = from; i < frames.length; i++) {
            const f = frames[i]!;
            if (pred(f)) {
              cleanup();
              resolve(f);
              return;
            }
          }
          if (ws.readyState === WebSocket.CLOSED) {
            cleanup();
            reject(
              new Error(
                `socket closed before the expected frame; got ${JSON.stringify(frames.map((f) => f.type))}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames.slice(-20))}`),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    closed,
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close(1000);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
      ws.terminate();
    },
  };

  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        reject(
          Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body }),
        ),
      );
    });
    ws.once('error', (err) => reject(err));
    client
      .waitFor((f) => f.type === 'welcome', { timeoutMs: 10_000 })
      .then((welcome) => resolve({ ...client, welcome }), reject);
  });
}

/** The HTTP status of an upgrade attempt (101 when it opened; the socket is closed again). */
export async function upgradeStatus(
  url: string,
  opts: ConnectOptions = {},
): Promise<{ status: number; body: string }> {
  try {
    const c = await connectFeed(url, opts);
    await c.close();
    return { status: 101, body: '' };
  } catch (err) {
    const e = err as { status?: number; body?: string };
    if (e.status === undefined) throw err;
    return { status: e.status, body: e.body ?? '' };
  }
}

/** The account frames (those with a seq) a client received, in arrival order. */
export const accountFrames = (c: { frames: Frame[] }) =>
  c.frames.filter((f) => typeof f.seq === 'number' && f.type !== 'caught_up');

export type CableFrame = Record<string, unknown>;

/** A raw `/cable` socket that records every frame, for what the stock ActionCable client keeps to itself. */
export async function connectCable(
  url: string,
  protocols = ['actioncable-v1-json', 'actioncable-unsupported'],
) {
  const ws = new WebSocket(url, protocols);
  const frames: CableFrame[] = [];
  ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString()) as CableFrame));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const next = async (pred: (m: CableFrame) => boolean) => {
    for (let i = 0; i < 100; i++) {
      const hit = frames.find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no frame matching; got ${JSON.stringify(frames)}`);
  };
  return { ws, frames, closed, next };
}
