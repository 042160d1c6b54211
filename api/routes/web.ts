/**
 * The trader's page (web/, ADR 0024): index.html at `/` and at the paths the mails link to (`/verify`,
 * and `/reset-password`, `/reset-authenticator`, `/unlock`, whose token the page posts only when the user
 * presses its button, so a mail scanner following links spends nothing), and its bundled assets under
 * /assets/. The files come from web/dist, which `npm run build:web` (and `npm start`, the test setup, the
 * image build) writes; a missing build is a 503 naming the command. The HTML carries the page's settings
 * as meta tags (no inline script: the CSP forbids them).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Hono } from 'hono';
import { ApiError } from '../problem.js';
import type { ApiDeps, AppEnv } from '../types.js';

export const WEB_DIST_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));
/** Paths that answer with the page: its root and the mailed links' pages. */
export const PAGE_PATHS = ['/', '/verify', '/reset-password', '/reset-authenticator', '/unlock'];
export const ASSET_PREFIX = '/assets/';

const ASSET_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
};
const ASSET_NAME = /^[a-z0-9-]+\.(js|css|map|txt)(\.map)?$/;

const escapeAttr = (v: string) =>
  v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A missing web build (the page, or the API reference's script): 503 naming the command. */
export const notBuilt = () =>
  new ApiError('service_unavailable', 'The web page is not built: run `npm run build:web`', undefined, {
    'retry-after': '5',
  });

export function webRoutes(deps: Pick<ApiDeps, 'config'>, dir = WEB_DIST_DIR) {
  const { config } = deps;
  const app = new Hono<AppEnv>();
  const meta = [
    `<meta name="brokerx:temporal-ui" content="${escapeAttr(config.TEMPORAL_UI_URL)}" />`,
    `<meta name="brokerx:temporal-namespace" content="${escapeAttr(config.TEMPORAL_NAMESPACE)}" />`,
    `<meta name="brokerx:idle-timeout" content="${config.REFRESH_IDLE_TIMEOUT_SECONDS}" />`,
  ].join('\n    ');

  const read = async (file: string) => {
    try {
      return await readFile(join(dir, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };

  for (const path of PAGE_PATHS) {
    app.get(path, async (c) => {
      const html = await read('index.html');
      if (!html) throw notBuilt();
      return c.html(html.toString('utf8').replace('<!--brokerx:config-->', meta));
    });
  }

  app.get(`${ASSET_PREFIX}:name`, async (c) => {
    const name = c.req.param('name');
    const ext = ASSET_NAME.exec(name);
    if (!ext) throw new ApiError('not_found', `No asset ${name}`);
    const body = await read(join('assets', name));
    if (!body) {
      if (!(await read('index.html'))) throw notBuilt();
      throw new ApiError('not_found', `No asset ${name}`);
    }
    return c.body(new Uint8Array(body), 200, {
      'content-type': ASSET_TYPES[ext[2] ? 'map' : ext[1]!]!,
      // Fixed names: the browser asks again each time and gets a 200 (small files, one origin).
      'cache-control': 'no-cache',
    });
  });
  return app;
}
