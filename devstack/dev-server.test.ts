import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDevServer, superviseDevServer } from './dev-server.js';
import { freePort, portOpen } from './processes.js';

/**
 * A stand-in for the Temporal CLI: each start counts itself in a file beside it, exits with a message
 * for its first `failures` starts, then listens on the port after `--port` (a Node one-liner).
 */
function fakeDevServer(dir: string, failures: number): string {
  const bin = join(dir, 'temporal');
  writeFileSync(
    bin,
    `#!/bin/sh
n=$(( $(cat "${dir}/starts" 2>/dev/null || echo 0) + 1 )); echo $n > "${dir}/starts"
if [ $n -le ${failures} ]; then echo "start $n: listen tcp: bind: address already in use" >&2; exit 1; fi
while [ "$1" != "--port" ]; do shift; done
exec "${process.execPath}" -e "require('net').createServer().listen($2, '127.0.0.1')"
`,
  );
  chmodSync(bin, 0o755);
  return bin;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function options(failures: number) {
  const dir = mkdtempSync(join(tmpdir(), 'brokerx-fake-temporal-'));
  dirs.push(dir);
  const [port, httpPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const starts = () => Number(readFileSync(join(dir, 'starts'), 'utf8'));
  return {
    o: {
      bin: fakeDevServer(dir, failures),
      dbFile: join(dir, 'db'),
      port,
      httpPort,
      metricsPort,
      output: 'ignore' as const,
    },
    starts,
  };
}

describe('startDevServer', () => {
  it('starts again a start that exits before it listens, and resolves once one listens', async () => {
    const { o, starts } = await options(2);
    const proc = await startDevServer(o);
    try {
      expect(starts()).toBe(3);
      expect(await portOpen(o.port)).toBe(true);
    } finally {
      await proc.stop('SIGKILL');
    }
  }, 20_000);

  it('gives up after three starts that exit, with the last lines of the last one', async () => {
    const { o, starts } = await options(99);
    const err = (await startDevServer(o).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain(`Temporal dev server exited (code 1) before listening on :${o.port}`);
    expect(err.message).toContain('start 3: listen tcp: bind: address already in use');
    expect(starts()).toBe(3);
  }, 20_000);
});

describe('superviseDevServer', () => {
  it('supervises the first start that listens, and starts it again when it dies', async () => {
    const { o, starts } = await options(1);
    const server = await superviseDevServer(o);
    try {
      expect(starts()).toBe(2);
      expect(server.restarts()).toBe(0);
      server.current().child.kill('SIGKILL');
      await expect.poll(() => server.restarts(), { timeout: 10_000 }).toBe(1);
      await expect.poll(() => portOpen(o.port), { timeout: 10_000 }).toBe(true);
      expect(starts()).toBe(3);
    } finally {
      await server.stop('SIGKILL');
    }
  }, 30_000);
});
