/**
 * A binary a test runs (nginx, promtool, chromium, amtool; the cluster suites' nginx, prometheus and
 * prometheus-alertmanager: clusterBinaries): tests never install packages (`.ci/run` does, through
 * scripts/install-test-binaries.ts). Without the binary the test is skipped locally, with the reason in its
 * title; under CI (`CI=true`) it runs and fails, so a green CI always ran it.
 *
 *   const nginx = testBinary('nginx');
 *   it.skipIf(nginx.skip)(`accepts the config${nginx.note}`, () => { spawnSync(nginx.path(), ...) });
 */
import { existsSync } from 'node:fs';
import { CLUSTER_DEBIAN_BINS, findBinary, TEST_BINARIES, type DebianBins } from '../devstack/debian-tools.js';

export interface TestBinary {
  /** Skip the test: the binary is missing and this is not CI. */
  skip: boolean;
  /** ` [skipped: why]` for the test title, or ''. */
  note: string;
  /** The binary's path; throws the reason when it is missing (under CI the test fails with it). */
  path(): string;
}

export function testBinary(
  name: (typeof TEST_BINARIES)[number]['bin'],
  env: Record<string, string | undefined> = process.env,
  find: (name: string) => string | undefined = findBinary,
): TestBinary {
  const pkg = TEST_BINARIES.find((b) => b.bin === name)?.pkg ?? name;
  const reason = `${name} is not installed (Debian package ${pkg}; npx tsx scripts/install-test-binaries.ts installs it)`;
  return required(find(name), reason, env);
}

/**
 * The cluster suites' gate: nginx, Prometheus and Alertmanager looked up as testBinary does. Their paths
 * go to startCluster (`debianBins`), which then installs nothing.
 */
export function clusterBinaries(
  env: Record<string, string | undefined> = process.env,
  find: (name: string) => string | undefined = findBinary,
): Omit<TestBinary, 'path'> & { bins(): DebianBins } {
  const each = Object.entries(CLUSTER_DEBIAN_BINS).map(
    ([key, bin]) => [key, testBinary(bin, env, find)] as const,
  );
  return {
    skip: each.some(([, b]) => b.skip),
    note: each.map(([, b]) => b.note).join(''),
    bins: () => Object.fromEntries(each.map(([key, b]) => [key, b.path()])) as DebianBins,
  };
}

/** A tool that `npm run tools` builds into the tools cache (the Temporal CLI), by its path. */
export function testTool(path: string, env: Record<string, string | undefined> = process.env): TestBinary {
  return required(existsSync(path) ? path : undefined, `${path} is missing (npm run tools builds it)`, env);
}

function required(
  bin: string | undefined,
  reason: string,
  env: Record<string, string | undefined>,
): TestBinary {
  const skip = !bin && env.CI !== 'true';
  return {
    skip,
    note: skip ? ` [skipped: ${reason}]` : '',
    path() {
      if (!bin) throw new Error(`${reason}; CI=true runs every test`);
      return bin;
    },
  };
}
