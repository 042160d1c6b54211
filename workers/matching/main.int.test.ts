/**
 * The matching worker process while it boots: its metrics port answers before Temporal does, and
 * `/books` (which docs/runbooks/matching-failover.md has operators curl) answers the books of no shard,
 * `{}`, until the shards start, without taking the process down.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, startProcess, waitForPort, type Managed } from '../../devstack/processes.js';

/** Accepts TCP and never answers: the worker's NativeConnection.connect waits on it. */
let silentTemporal: Server;
const sockets = new Set<Socket>();
let worker: Managed | undefined;

beforeAll(async () => {
  silentTemporal = createServer((socket) => {
    sockets.add(socket.on('error', () => undefined));
  });
  await new Promise<void>((resolve) => silentTemporal.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silentTemporal.close(resolve));
});

describe('matching worker booting', () => {
  it('answers /books with {} while it waits for Temporal, and stays up', async () => {
    const port = await freePort();
    const address = silentTemporal.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    worker = startProcess(
      'worker-matching',
      process.execPath,
      ['--import', 'tsx', 'workers/matching/main.ts'],
      {
        env: {
          ...process.env,
          ...inject('env'),
          TEMPORAL_ADDRESS: `127.0.0.1:${address.port}`,
          METRICS_PORT: String(port),
          LOG_LEVEL: 'error',
        },
        output: 'ignore',
      },
    );
    await waitForPort(port, 'worker-matching metrics', 60_000, worker);

    const res = await fetch(`http://127.0.0.1:${port}/books`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    expect(worker.child.exitCode, worker.lastLines().join('\n')).toBeNull();
  });
});
