/**
 * Interactive API reference at /docs: Scalar's standalone bundle, served from the web build (web/build.ts
 * copies it to web/dist/docs/scalar.js; no CDN, and no Scalar package tree where the api runs), set
 * up by its HTML API (a `data-configuration` attribute: the header policy allows no inline script) to work
 * fully offline: no developer toolbar (Share, Deploy), no AI agent, no telemetry, no web fonts, no request proxy.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hono } from 'hono';
import type { AppEnv } from '../types.js';
import { notBuilt, WEB_DIST_DIR } from './web.js';

/** Where web/build.ts puts Scalar's bundle in the web build. */
export const REFERENCE_SCRIPT = join('docs', 'scalar.js');

/** Scalar's configuration (the page's data-configuration): everything that would reach another host is off. */
export const REFERENCE_CONFIGURATION = {
  url: '/openapi.json',
  // Scalar shows its AI agent on localhost unless it is disabled.
  agent: { disabled: true },
  // No developer toolbar (Share, Deploy), no telemetry, no web fonts from Scalar's CDN.
  showDeveloperTools: 'never',
  telemetry: false,
  withDefaultFonts: false,
  documentDownloadType: 'json',
  operationTitleSource: 'summary',
  defaultOpenAllTags: true,
} as const;

const PAGE = `<!doctype html>
<html lang="en"><head><title>BrokerX API reference</title><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/><link rel="icon" href="data:,"/></head>
<body><script id="api-reference" data-configuration="${JSON.stringify(REFERENCE_CONFIGURATION).replaceAll('"', '&quot;')}"></script>
<script src="/docs/scalar.js"></script></body></html>`;

export function docsRoutes(dir = WEB_DIST_DIR) {
  const app = new Hono<AppEnv>();
  let bundle: string | undefined;
  app.get('/docs', (c) => c.html(PAGE));
  app.get('/docs/scalar.js', async (c) => {
    bundle ??= await readFile(join(dir, REFERENCE_SCRIPT), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw notBuilt();
      throw err;
    });
    return c.body(bundle, 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=86400',
    });
  });
  return app;
}
