/**
 * devstack/: builds the local tools that are missing, once per machine, into a cache outside the clone
 * (default ~/.cache/brokerx/bin, or BROKERX_TOOLS_DIR). Builds run in parallel; a build goes to a
 * temporary folder and is renamed into place, so an interrupted or concurrent build never leaves a
 * half-written binary. k6 is deliberately absent: it is AGPL-licensed (see docs/adr/0009-load-testing.md).
 *
 * Two sets: DEV_TOOLS for `npm start` and the tests (the Temporal CLI with its dev server, Mailpit) and
 * CLUSTER_TOOLS for `npm run start:cluster` (Temporal's server, its SQL schema tool and the Web UI
 * server, Mailpit). Temporal's server and the UI server both build a binary named `server`: each is
 * installed under its own name.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Each tool: the module `go install` builds and the name of the binary it writes. */
export const TOOLS = {
  temporal: { module: 'github.com/temporalio/cli/cmd/temporal@v1.5.1', binary: 'temporal' },
  mailpit: { module: 'github.com/axllent/mailpit@v1.27.11', binary: 'mailpit' },
  // The server version inside the CLI's dev server above (docs/adr/0018-production-topology.md).
  'temporal-server': { module: 'go.temporal.io/server/cmd/server@v1.29.1', binary: 'server' },
  'temporal-sql-tool': { module: 'go.temporal.io/server/cmd/tools/sql@v1.29.1', binary: 'sql' },
  // The UI version the CLI embeds.
  'temporal-ui-server': { module: 'github.com/temporalio/ui-server/v2/cmd/server@v2.42.1', binary: 'server' },
} as const;
export type ToolName = keyof typeof TOOLS;
export const DEV_TOOLS = ['temporal', 'mailpit'] as const satisfies readonly ToolName[];
export const CLUSTER_TOOLS = [
  'mailpit',
  'temporal-server',
  'temporal-sql-tool',
  'temporal-ui-server',
] as const satisfies readonly ToolName[];
export type ToolPaths<T extends ToolName = (typeof DEV_TOOLS)[number]> = Record<T, string>;

function goInstall(name: ToolName, dir: string, log: (line: string) => void): Promise<void> {
  const tmp = mkdtempSync(join(dir, `.build-${name}-`));
  const started = Date.now();
  const { module, binary } = TOOLS[name];
  log(`building ${name} (${module}) into ${dir} ...`);
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['install', module], {
      env: { ...process.env, GOBIN: tmp, CGO_ENABLED: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', (err) => {
      rmSync(tmp, { recursive: true, force: true });
      reject(new Error(`cannot run "go" to build ${name}: ${err.message}. Install Go 1.22+ and make sure it is on PATH.`));
    });
    child.on('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`go install ${module} failed (exit ${code}):\n${stderr}`);
        renameSync(join(tmp, binary), join(dir, name));
        log(`built ${name} in ${Math.round((Date.now() - started) / 1000)} s`);
        resolve();
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  });
}

/** Builds the tools of `names` that are missing (default: the development set) and returns their paths. */
export async function ensureTools<T extends ToolName = (typeof DEV_TOOLS)[number]>(
  dir: string,
  log: (line: string) => void = console.log,
  names: readonly T[] = DEV_TOOLS as readonly ToolName[] as readonly T[],
): Promise<ToolPaths<T>> {
  mkdirSync(dir, { recursive: true });
  const paths = Object.fromEntries(names.map((t) => [t, join(dir, t)])) as ToolPaths<T>;
  const missing = names.filter((t) => !existsSync(paths[t]));
  const results = await Promise.allSettled(missing.map((t) => goInstall(t, dir, log)));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
  if (failures.length) throw new Error(`Could not build the local tools:\n${failures.join('\n')}`);
  return paths;
}
