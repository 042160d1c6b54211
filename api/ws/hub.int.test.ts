/**
 * The feed hub's subscriber connection cut, then Redis slow to answer its SUBSCRIBE on the new one
 * (longer than the command timeout): the hub reconnects and subscribes again, the process lives on, and
 * the messages published after reach the listener.
 */
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis.js';
import { eventually } from '../../test/eventually.js';
import { testConfig } from '../../test/helpers.js';
import { createRedisHub, type FeedHub } from './hub.js';

const STALL_MS = 1500;

/**
 * A TCP proxy to the test Redis. cut() drops every connection; the first SUBSCRIBE after it is held back
 * for STALL_MS (`stalled` resolves once it went on), as a Redis busy coming back looks.
 */
async function startStallingProxy(redisUrl: string) {
  const target = new URL(redisUrl);
  const open = new Set<Socket>();
  let stallNext = false;
  let stalled = Promise.resolve();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    open.add(client).add(upstream);
    let held: Buffer[] | undefined;
    client.on('data', (data: Buffer) => {
      if (stallNext && /subscribe/i.test(data.toString())) {
        stallNext = false;
        held = [];
        stalled = new Promise((resolve) =>
          setTimeout(() => {
            for (const chunk of held ?? []) upstream.write(chunk);
            held = undefined;
            resolve();
          }, STALL_MS),
        );
      }
      if (held) held.push(data);
      else upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => client.write(data));
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        open.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(redisUrl);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: url.toString(),
    cut() {
      stallNext = true;
      for (const socket of open) socket.destroy();
    },
    stalled: () => stalled,
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const config = testConfig();
let proxy: Awaited<ReturnType<typeof startStallingProxy>>;
let hub: FeedHub;
const publisher = connectRedis(config.REDIS_URL, 'test-hub-publisher');
beforeAll(async () => {
  proxy = await startStallingProxy(config.REDIS_URL);
  hub = createRedisHub(connectRedis(proxy.url, 'test-hub'), createLogger('silent'), 'test-hub-feed');
});
afterAll(async () => {
  await hub?.close();
  await proxy?.close();
  publisher.disconnect();
});

it('a resubscribe that times out after a reconnect is retried: the listener gets what is published next', async () => {
  const channel = `${config.REDIS_PREFIX}hub-test:${process.pid}`;
  const received: unknown[] = [];
  await hub.subscribe(channel, (event) => received.push(event));
  let resyncs = 0;
  hub.onResync(() => resyncs++);

  proxy.cut();
  await eventually(async () => expect(resyncs).toBeGreaterThan(0));
  await proxy.stalled();
  // Subscribed again once resynced: a message published now reaches the listener.
  await eventually(async () => {
    await publisher.publish(channel, JSON.stringify({ n: 1 }));
    expect(received).toContainEqual({ n: 1 });
  });
}, 30_000);
