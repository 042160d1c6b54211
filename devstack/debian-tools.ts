/**
 * devstack/: Debian binaries the ops scripts and the tests need, installed with apt-get: `promtool` and
 * `prometheus` (Debian package `prometheus`), `nginx` (package `nginx`), `chromium` (package `chromium`,
 * the headless browser of the mail UI test), `amtool` and `prometheus-alertmanager` (package
 * `prometheus-alertmanager`). As root apt-get runs as is;
 * otherwise through `sudo -n` when that works without a password. Anything else gets a clear message
 * naming the command to run. Tests never install: `.ci/run` does (scripts/install-test-binaries.ts), and
 * test/binaries.ts skips or fails a test whose binary is missing (the cluster suites too: they give
 * startCluster the binaries they found, so it installs nothing).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export type Ensured = { ok: true; bin: string; installed: boolean } | { ok: false; reason: string };

/** The absolute path of `name` on PATH or in the usual system folders (sbin is not on every PATH). */
export function findBinary(name: string): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter),
    '/usr/local/sbin',
    '/usr/local/bin',
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function aptGet(prefix: string[], args: string[], log: (line: string) => void): boolean {
  const [cmd, ...rest] = [...prefix, 'apt-get', ...args];
  log(`running: ${[cmd, ...rest].join(' ')}`);
  const r = spawnSync(cmd!, rest, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (r.status !== 0)
    log(
      `apt-get ${args[0]} failed: ${(r.stderr ?? r.error?.message ?? '').trim().split('\n').slice(-3).join(' | ')}`,
    );
  return r.status === 0;
}

/**
 * Make sure `bin` is installed, installing Debian package `pkg` when it is not. Never throws: the
 * result says why the tool cannot be had, so callers can print it or skip a test with it.
 */
export function ensureDebianTool(
  bin: string,
  pkg: string,
  log: (line: string) => void = () => undefined,
): Ensured {
  const found = findBinary(bin);
  if (found) return { ok: true, bin: found, installed: false };
  const manual = `install it with: sudo apt-get install -y --no-install-recommends ${pkg}`;
  if (!findBinary('apt-get'))
    return {
      ok: false,
      reason: `${bin} is not installed and apt-get is not available; ${manual} (or your system's equivalent)`,
    };
  let prefix: string[];
  if (process.getuid?.() === 0) prefix = [];
  else if (findBinary('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0)
    prefix = ['sudo', '-n'];
  else return { ok: false, reason: `${bin} is not installed and installing needs root; ${manual}` };

  const install = ['install', '-y', '-q', '--no-install-recommends', pkg];
  log(`${bin} not found: installing Debian package ${pkg}`);
  // A fresh machine may have no package lists yet: update once, then try again.
  const ok =
    aptGet(prefix, install, log) || (aptGet(prefix, ['update', '-q'], log) && aptGet(prefix, install, log));
  const installedBin = ok ? findBinary(bin) : undefined;
  if (!installedBin) return { ok: false, reason: `could not install ${pkg} with apt-get; ${manual}` };
  log(`installed ${pkg}: ${installedBin}`);
  return { ok: true, bin: installedBin, installed: true };
}

/** The binaries the tests run, with the Debian package that provides each. */
export const TEST_BINARIES = [
  { bin: 'promtool', pkg: 'prometheus' },
  { bin: 'nginx', pkg: 'nginx' },
  { bin: 'chromium', pkg: 'chromium' },
  { bin: 'amtool', pkg: 'prometheus-alertmanager' },
  { bin: 'prometheus', pkg: 'prometheus' },
  { bin: 'prometheus-alertmanager', pkg: 'prometheus-alertmanager' },
] as const;

/** The Debian binaries startCluster runs, by their key in its Bins; each binary's package has its name. */
export const CLUSTER_DEBIAN_BINS = {
  nginx: 'nginx',
  prometheus: 'prometheus',
  alertmanager: 'prometheus-alertmanager',
} as const satisfies Record<string, (typeof TEST_BINARIES)[number]['bin']>;
export type DebianBins = Record<keyof typeof CLUSTER_DEBIAN_BINS, string>;
