/**
 * devstack/: builds the local tools that are missing, once per machine, into a cache outside the clone
 * (default ~/.cache/brokerx/bin, or BROKERX_TOOLS_DIR). Both builds run in parallel; a build goes to a
 * temporary folder and is renamed into place, so an interrupted or concurrent build never leaves a
 * half-written binary. k6 is deliberately absent: it is AGPL-licensed (see docs/adr/0009-load-testing.md).
 *
 * Two sets: DEV_TOOLS for `npm start` and the tests (the Temporal CLI with its dev server, Mailpit) and
 * CLUSTER_TOOLS for `npm run start:cluster` (Temporal's server, its SQL schema tool and the Web UI
 * server, Mailpit). Temporal's server and the UI server both build a binary named `server`: each is
 * installed under its own name.
 *
 * The Temporal tools are a plain `go install`. Mailpit is built from its module source with its web UI
 * (docs/adr/0019-mailpit-with-its-ui.md): `go install` alone embeds an empty `server/ui/dist`, so the page
 * on :8025 stays blank. The source is copied from the Go module cache to a temporary folder, the UI is
 * built there with npm (`npm ci`, then its esbuild config), then `go build` embeds it. A marker file
 * beside the binary (`mailpit.ui`, holding the version) tells a UI build from an older UI-less one, which
 * is rebuilt.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
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

const MAILPIT_MODULE = TOOLS.mailpit.module.split('@')[0]!;
const MAILPIT_VERSION = TOOLS.mailpit.module.split('@')[1]!;
/** The marker beside the Mailpit binary: present, holding MAILPIT_VERSION, only for a build with its UI. */
export const mailpitUiMarker = (dir: string) => join(dir, 'mailpit.ui');

/** Run a command; resolves with its stdout, rejects with the tail of its stderr. */
function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', (err) =>
      reject(new Error(`cannot run "${cmd}": ${err.message}. Is it installed and on PATH?`)),
    );
    child.on('exit', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code}):\n${stderr}`)),
    );
  });
}

/** `go install` into a temporary GOBIN; returns the built binary. */
async function goInstall(name: ToolName, tmp: string): Promise<string> {
  await run('go', ['install', TOOLS[name].module], { env: { ...process.env, GOBIN: tmp, CGO_ENABLED: '0' } });
  return join(tmp, TOOLS[name].binary);
}

/** Mailpit with its UI: module source to a temp dir, npm ci + UI build into server/ui/dist, go build. */
async function buildMailpit(tmp: string, log: (line: string) => void): Promise<string> {
  const info = JSON.parse(await run('go', ['mod', 'download', '-json', TOOLS.mailpit.module])) as {
    Dir?: string;
  };
  if (!info.Dir) throw new Error(`go mod download ${TOOLS.mailpit.module} gave no source folder`);
  const src = join(tmp, 'src');
  cpSync(info.Dir, src, { recursive: true, mode: 0 });
  // The module cache is read-only; the copy must be writable for node_modules and the UI build.
  await run('chmod', ['-R', 'u+w', src]);
  log('mailpit: installing its UI build dependencies (npm ci) ...');
  await run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: src });
  log('mailpit: building its UI (esbuild) ...');
  await run('node', ['esbuild.config.mjs'], { cwd: src, env: { ...process.env, MINIFY: 'true' } });
  if (!existsSync(join(src, 'server/ui/dist/app.js')))
    throw new Error('the Mailpit UI build wrote no app.js');
  log('mailpit: go build ...');
  const out = join(tmp, 'mailpit');
  const ldflags = `-s -w -X ${MAILPIT_MODULE}/config.Version=${MAILPIT_VERSION}`;
  await run('go', ['build', '-ldflags', ldflags, '-o', out, '.'], {
    cwd: src,
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  return out;
}

async function build(name: ToolName, dir: string, log: (line: string) => void): Promise<void> {
  const tmp = mkdtempSync(join(name === 'mailpit' ? tmpdir() : dir, `.build-${name}-`));
  const started = Date.now();
  log(`building ${name} (${TOOLS[name].module}) into ${dir} ...`);
  try {
    const bin = name === 'mailpit' ? await buildMailpit(tmp, log) : await goInstall(name, tmp);
    // A temp dir under tmpdir() may sit on another filesystem: copy next to the target, then rename.
    const staged = join(dir, `.${name}-${process.pid}`);
    cpSync(bin, staged);
    renameSync(staged, join(dir, name));
    if (name === 'mailpit') writeFileSync(mailpitUiMarker(dir), `${MAILPIT_VERSION}\n`);
    log(`built ${name} in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Whether the tool in `dir` is missing or outdated (a Mailpit without its UI, or of another version). */
export function needsBuild(name: ToolName, dir: string): boolean {
  if (!existsSync(join(dir, name))) return true;
  if (name !== 'mailpit') return false;
  const marker = mailpitUiMarker(dir);
  return !existsSync(marker) || readFileSync(marker, 'utf8').trim() !== MAILPIT_VERSION;
}

/** Builds the tools of `names` that are missing or outdated (default: the development set); their paths. */
export async function ensureTools<T extends ToolName = (typeof DEV_TOOLS)[number]>(
  dir: string,
  log: (line: string) => void = console.log,
  names: readonly T[] = DEV_TOOLS as readonly ToolName[] as readonly T[],
): Promise<ToolPaths<T>> {
  mkdirSync(dir, { recursive: true });
  const paths = Object.fromEntries(names.map((t) => [t, join(dir, t)])) as ToolPaths<T>;
  const missing = names.filter((t) => needsBuild(t, dir));
  const results = await Promise.allSettled(missing.map((t) => build(t, dir, log)));
  const failures = results.flatMap((r) =>
    r.status === 'rejected' ? [String((r.reason as Error).message)] : [],
  );
  if (failures.length) throw new Error(`Could not build the local tools:\n${failures.join('\n')}`);
  return paths;
}
