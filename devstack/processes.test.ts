import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const processes = fileURLToPath(new URL('./processes.ts', import.meta.url));

/** Running (a zombie waiting for the machine's init to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('startProcess', () => {
  it('kills the groups it started when its own process exits, even by a forced process.exit', async () => {
    // A parent that starts a long sleeper (in its own process group) and exits without stopping it.
    const script = `
      import { startProcess } from ${JSON.stringify(processes)};
      const p = startProcess('sleeper', 'sleep', ['600'], { output: 'ignore' });
      console.log(p.child.pid);
      setTimeout(() => process.exit(3), 200);
    `;
    const { stdout } = await run(process.execPath, [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      script,
    ]).catch((err: { stdout: string; code: number }) => {
      expect(err.code).toBe(3);
      return err;
    });
    const pid = Number(stdout.trim());
    expect(pid).toBeGreaterThan(0);
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
  });
});

describe('supervise', () => {
  it('starts a process again after it dies, and not after stop()', async () => {
    const { startProcess, supervise } = await import('./processes.js');
    const sup = supervise('sleeper', () => startProcess('sleeper', 'sleep', ['600'], { output: 'ignore' }));
    const first = sup.current();
    first.child.kill('SIGKILL');
    await first.exited;
    for (let i = 0; i < 100 && sup.restarts() === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(sup.restarts()).toBe(1);
    const second = sup.current();
    expect(second.child.pid).not.toBe(first.child.pid);
    expect(alive(second.child.pid!)).toBe(true);
    await sup.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    expect(sup.restarts()).toBe(1);
    expect(alive(second.child.pid!)).toBe(false);
  });
});

describe('freePort', () => {
  it("hands out distinct ports below the OS's ephemeral range, each free to bind", async () => {
    const { freePort } = await import('./processes.js');
    const { createServer } = await import('node:net');
    const ephemeralStart = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    const ports: number[] = [];
    for (let i = 0; i < 20; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeLessThan(ephemeralStart);
      const srv = createServer();
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((r) => srv.close(r));
    }
  });
});

describe('waitForPort', () => {
  it('fails with the last lines of a process that exits before it listens, even with its output ignored', async () => {
    const { freePort, startProcess, waitForPort } = await import('./processes.js');
    const port = await freePort();
    const p = startProcess(
      'failing',
      'sh',
      ['-c', 'echo starting; echo "bind: address already in use" >&2; printf "last words"; exit 3'],
      {
        output: 'ignore',
      },
    );
    const err = (await waitForPort(port, 'failing', 10_000, p).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(new RegExp(`^failing exited \\(code 3\\) before listening on :${port}`));
    expect(err.message).toContain('bind: address already in use');
    expect(err.message).toContain('last words'); // stdout's last line, without its newline
    expect(p.lastLines()).toEqual(
      expect.arrayContaining(['starting', 'bind: address already in use', 'last words']),
    );
  });
});
