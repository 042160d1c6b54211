/**
 * `npx tsx scripts/install-test-binaries.ts` (run by `.ci/run`): installs the Debian binaries the tests
 * need (devstack/debian-tools.ts TEST_BINARIES: promtool, nginx, chromium, amtool, and prometheus and
 * prometheus-alertmanager for the cluster suites) and prints their paths; exits non-zero
 * when one cannot be installed.
 */
import { ensureDebianTool, TEST_BINARIES } from '../devstack/debian-tools.js';

const log = (line: string) => console.error(`[install-test-binaries] ${line}`);
let failed = false;
for (const { bin, pkg } of TEST_BINARIES) {
  const r = ensureDebianTool(bin, pkg, log);
  if (r.ok) console.log(r.bin);
  else {
    console.error(r.reason);
    failed = true;
  }
}
if (failed) process.exit(1);
