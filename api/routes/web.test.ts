/**
 * The trader's page as the api serves it: index.html at / and at the mailed links' paths with the page's
 * settings as meta tags and the HTML header policy (CSP without inline scripts, no framing), the bundled
 * assets with their types, the API reference's script from the same build, unknown assets 404, and a
 * missing build a 503 that names the command.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { loadConfig } from '../../lib/config.js';
import { buildWeb } from '../../web/build.js';
import { headerPolicies, HEADER_POLICIES } from '../headers.js';
import { problem, type ApiError } from '../problem.js';
import type { AppEnv } from '../types.js';
import { docsRoutes } from './docs.js';
import { PAGE_PATHS, webRoutes } from './web.js';

const config = loadConfig({
  NODE_ENV: 'test',
  TEMPORAL_UI_URL: 'http://temporal.example:8233',
  TEMPORAL_NAMESPACE: 'brokerx"<ns>',
  REFRESH_IDLE_TIMEOUT_SECONDS: '1200',
});

function appFor(dir: string) {
  const app = new Hono<AppEnv>();
  app.use('*', headerPolicies());
  app.route('/', docsRoutes(dir));
  app.route('/', webRoutes({ config }, dir));
  app.onError((err, c) => problem(c, err as ApiError));
  return app;
}

describe('the web page routes (api/routes/web.ts)', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'brokerx-web-'));
  const built = join(dir, 'dist');
  beforeAll(async () => {
    await buildWeb(built);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves the page at / and the mailed links' paths with its settings and the HTML header policy", async () => {
    const app = appFor(built);
    const links = ['/verify', '/reset-password', '/reset-authenticator', '/unlock'];
    expect(PAGE_PATHS).toEqual(['/', ...links]);
    for (const path of [
      '/',
      ...links.map((l) => `${l}?token=abc`),
      '/reset-authenticator?token=abc&cancel=1',
    ]) {
      const res = await app.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toBe(HEADER_POLICIES.html['content-security-policy']);
      expect(csp).toMatch(/script-src 'self';/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const html = await res.text();
      expect(html).toContain('<meta name="brokerx:temporal-ui" content="http://temporal.example:8233" />');
      expect(html).toContain('content="brokerx&quot;&lt;ns&gt;"');
      expect(html).toContain('<meta name="brokerx:idle-timeout" content="1200" />');
      expect(html).toContain('<script type="module" src="/assets/app.js"></script>');
      // No inline script: every <script> has a src.
      expect(html.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toBeNull();
    }
  });

  it('serves the bundle and the stylesheet with their types', async () => {
    const app = appFor(built);
    const js = await app.request('/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('content-security-policy')).toBe(HEADER_POLICIES.html['content-security-policy']);
    expect((await js.text()).length).toBeGreaterThan(1000);
    const css = await app.request('/assets/app.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toContain(':focus-visible');
  });

  it("serves the API reference's script from the same build", async () => {
    const res = await appFor(built).request('/docs/scalar.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await res.text()).length).toBeGreaterThan(100_000);
  });

  it('answers 404 for an unknown asset and for a name that leaves the folder', async () => {
    const app = appFor(built);
    for (const path of ['/assets/nope.js', '/assets/..%2Findex.html', '/assets/app.exe']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    }
  });

  it('answers 503 naming the build command when the page is not built', async () => {
    const app = appFor(join(dir, 'missing'));
    for (const path of ['/', '/assets/app.js', '/docs/scalar.js']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toContain('npm run build:web');
    }
  });
});
