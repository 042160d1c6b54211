/**
 * The compiled tree the containers run (ADR 0027): `dist/` with one JavaScript file and a linked source
 * map per TypeScript source that a process loads (esbuild, no bundling, so relative paths stay what they
 * are in the repository), the SQL migrations, and the files the api serves (web/build.ts: the trader's
 * page and the API reference's bundle). Compose starts every app service as
 * `node --enable-source-maps dist/<entry>.js` in a directory holding `dist/`, `package.json` and
 * `node_modules`: the image's /app (Dockerfile), or locally `prepareAppDir()`, which `npm run
 * start:cluster` and the tests run the same command lines in. `npm run build` writes the repository's own
 * dist/ (the Dockerfile's build stage).
 */
import { cpSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { buildWeb } from '../web/build.js';
import { REPO_ROOT } from './compose.js';

/**
 * What the app processes start (compose's commands name their compiled files), plus the workflows: the
 * trading worker bundles them by path at start (workers/trading/bundle.ts), so no import reaches them.
 */
export const APP_ENTRIES = [
  'api/main.ts',
  'workers/trading/main.ts',
  'workers/matching/main.ts',
  'workers/outbox/main.ts',
  'db/migrate-cli.ts',
  'workflows/index.ts',
] as const;

/** The compiled file of a source: `api/main.ts` -> `dist/api/main.js`. */
export const compiledPath = (source: string): string => `dist/${source.replace(/\.ts$/, '.js')}`;

/** Node's flags in compose's commands: stack traces name the TypeScript lines (the linked source maps). */
export const NODE_FLAGS = ['--enable-source-maps'] as const;

/** The command line of an entry, as compose writes it. */
export const nodeCommand = (entry: string): string[] => ['node', ...NODE_FLAGS, compiledPath(entry)];

export interface AppGraph {
  /** Repository-relative sources the entries load (type-only imports are not loads). */
  files: string[];
  /** npm packages they import. */
  packages: string[];
}

/** The entries' import graph, as esbuild resolves it (packages left external). */
export async function appGraph(): Promise<AppGraph> {
  const result = await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: [...APP_ENTRIES],
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    outdir: 'graph',
    logLevel: 'silent',
  });
  const packages = new Set<string>();
  for (const input of Object.values(result.metafile.inputs))
    for (const imported of input.imports)
      if (imported.external && !isBuiltin(imported.path))
        packages.add(
          imported.path
            .split('/')
            .slice(0, imported.path.startsWith('@') ? 2 : 1)
            .join('/'),
        );
  return { files: Object.keys(result.metafile.inputs).sort(), packages: [...packages].sort() };
}

/** Compile into `<root>/dist` (replacing it); `root` defaults to the repository. */
export async function buildApp(root = REPO_ROOT): Promise<{ dist: string; files: string[] }> {
  const dist = join(root, 'dist');
  rmSync(dist, { recursive: true, force: true });
  const { files } = await appGraph();
  await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: files,
    outbase: '.',
    outdir: dist,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    // The maps point at the sources by path; the image leaves the sources out, stack traces keep the lines.
    sourcesContent: false,
    logLevel: 'warning',
  });
  cpSync(join(REPO_ROOT, 'db', 'migrations'), join(dist, 'db', 'migrations'), { recursive: true });
  await buildWeb(join(dist, 'web', 'dist'));
  return { dist, files };
}

/**
 * The image's /app at `dir`: the compiled tree, package.json (`"type": "module"`) and the repository's
 * node_modules (a link). Compose's command lines run here as they run in a container.
 */
export async function prepareAppDir(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await buildApp(dir);
  cpSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  rmSync(join(dir, 'node_modules'), { force: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}
