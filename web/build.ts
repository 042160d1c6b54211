/**
 * Builds the trader's page (web/src) into web/dist with esbuild: one JavaScript bundle (Preact and the
 * page's code), one stylesheet and index.html. Nothing is fetched at run time from anywhere but the api's
 * own origin. Beside it goes the API reference's script (Scalar's standalone bundle, which /docs serves),
 * so neither Preact nor Scalar's package tree is installed where the api runs (ADR 0027).
 * `npm run build:web`; scripts/start.ts, the compiled tree (devstack/build.ts) and the integration tests'
 * global setup call `buildWeb()` themselves. The output is git-ignored (ADR 0024).
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const require = createRequire(import.meta.url);
export const WEB_DIST = join(here, 'dist');
/** The API reference's script in the output folder: REFERENCE_SCRIPT of api/routes/docs.ts, which serves it. */
const REFERENCE_SCRIPT = join('docs', 'scalar.js');

export interface WebBuild {
  /** Bytes of each output file, by name (app.js, app.css). */
  sizes: Record<string, number>;
}

export async function buildWeb(outdir = WEB_DIST): Promise<WebBuild> {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, 'assets'), { recursive: true });
  mkdirSync(join(outdir, 'docs'), { recursive: true });
  copyFileSync(
    require.resolve('@scalar/api-reference/browser/standalone.js'),
    join(outdir, REFERENCE_SCRIPT),
  );
  const result = await build({
    entryPoints: { app: join(here, 'src', 'main.tsx') },
    outdir: join(outdir, 'assets'),
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(here, 'tsconfig.json'),
    metafile: true,
    logLevel: 'warning',
    legalComments: 'linked',
  });
  copyFileSync(join(here, 'src', 'index.html'), join(outdir, 'index.html'));
  const sizes: Record<string, number> = {};
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (!file.endsWith('.map')) sizes[file.split('/').pop()!] = out.bytes;
  }
  return { sizes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { sizes } = await buildWeb();
  for (const [name, bytes] of Object.entries(sizes)) console.log(`web/dist/assets/${name}  ${bytes} bytes`);
}
