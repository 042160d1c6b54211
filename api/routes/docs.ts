/** Interactive API reference at /docs (Scalar, served from node_modules: no CDN, works offline). */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Hono } from 'hono';
import type { AppEnv } from '../types.js';

const require = createRequire(import.meta.url);

const PAGE = `<!doctype html>
<html><head><title>BrokerX API reference</title><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/></head>
<body><script id="api-reference" data-url="/openapi.json"></script>
<script src="/docs/scalar.js"></script></body></html>`;

export function docsRoutes() {
  const app = new Hono<AppEnv>();
  let bundle: string | undefined;
  app.get('/docs', (c) => c.html(PAGE));
  app.get('/docs/scalar.js', (c) => {
    bundle ??= readFileSync(require.resolve('@scalar/api-reference/browser/standalone.js'), 'utf8');
    return c.body(bundle, 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=86400',
    });
  });
  return app;
}
