/**
 * devstack/: builds the local tools that are missing, once per machine, into a cache outside the clone
 * (default ~/.cache/brokerx/bin, or BROKERX_TOOLS_DIR). Both builds run in parallel; a build goes to a
 * temporary folder and is renamed into place, so an interrupted or concurrent build never leaves a
 * half-written binary. k6 is deliberately absent: it is AGPL-licensed (see docs/adr/0009-load-testing.md).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const TOOLS = {
  temporal: 'github.com/temporalio/cli/cmd/temporal@v1.5.1',
  mailpit: 'github.com/axllent/mailpit@v1.27.11',
} as const;
export type ToolName = keyof typeof TOOLS;
export type ToolPaths = Record<ToolName, string>;

function goInstall(name: ToolName, dir: string, log: (line: string) => void): Promise<void> {
  const tmp = mkdtempSync(join(dir, `.build-${name}-`));
  const started = Date.now();
  log(`building ${name} (${TOOLS[name]}) into ${dir} ...`);
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['install', TOOLS[name]], {
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
        if (code !== 0) throw new Error(`go install ${TOOLS[name]} failed (exit ${code}):\n${stderr}`);
        renameSync(join(tmp, name), join(dir, name));
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

export async function ensureTools(dir: string, log: (line: string) => void = console.log): Promise<ToolPaths> {
  mkdirSync(dir, { recursive: true });
  const paths = { temporal: join(dir, 'temporal'), mailpit: join(dir, 'mailpit') };
  const missing = (Object.keys(TOOLS) as ToolName[]).filter((t) => !existsSync(paths[t]));
  const results = await Promise.allSettled(missing.map((t) => goInstall(t, dir, log)));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
  if (failures.length) throw new Error(`Could not build the local tools:\n${failures.join('\n')}`);
  return paths;
}
