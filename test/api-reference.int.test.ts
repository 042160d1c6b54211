/**
 * The API reference page (/docs) in a real browser (headless Chromium): it renders every operation of the
 * document once, reaches no other host (fully offline), shows no AI, Share or Deploy widgets, and breaks
 * no rule of its header policy (api/headers.ts `reference`). The api runs here over dependencies it never
 * reaches (api/document.ts): the page and the document need none. The screenshot lands in the git-ignored
 * `.artifacts/` folder, to be looked at (issue 21).
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inertApp, openApiDocument } from '../api/document.js';
import { ARTIFACTS, chromium, withPage } from './browser.js';

describe('API reference page', () => {
  let server: ServerType;
  let base = '';
  beforeAll(async () => {
    const { app } = inertApp();
    await new Promise<void>((ready) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

  it.skipIf(chromium.skip)(
    `renders every operation once, offline, without AI/Share/Deploy widgets, within its CSP${chromium.note}`,
    { timeout: 120_000 },
    async () => {
      await withPage({ width: 1400, height: 900 }, async (page) => {
        const elsewhere: string[] = [];
        const violations: string[] = [];
        await page.setRequestInterception(true);
        page.on('request', (request) => {
          const url = request.url();
          if (url.startsWith(base) || url.startsWith('data:') || url.startsWith('blob:'))
            void request.continue();
          else {
            elsewhere.push(url);
            void request.abort();
          }
        });
        page.on('console', (message) => {
          if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
        });

        await page.goto(`${base}/docs`, { waitUntil: 'load' });
        const summaries = operationSummaries();
        // Scalar renders the operations from the document, every tag open: wait for the last one.
        await page.waitForSelector(`::-p-text(${summaries.at(-1)})`, { timeout: 60_000 });
        // The introduction's download button may come a moment after the operations on a busy machine.
        await page.waitForSelector('::-p-text(Download OpenAPI Document)', { timeout: 60_000 });
        await page.screenshot({ path: join(ARTIFACTS, 'api-reference.png') });

        // Each operation shows in the sidebar and as a section heading: never more (a duplicate entry,
        // like the two "Liveness" of before, would show again).
        const lines = String(await page.evaluate('document.body.innerText')).split('\n');
        const text = lines.join('\n');
        const shown = summaries.map((summary) => ({
          summary,
          times: lines.filter((l) => l.trim() === summary).length,
        }));
        expect(shown.filter((s) => s.times < 1 || s.times > 2)).toEqual([]);
        expect(text).not.toMatch(/Ask AI|Deploy|Share/);
        expect(text).toContain('Download OpenAPI Document');
        expect(elsewhere).toEqual([]);
        expect(violations).toEqual([]);
      });
    },
  );
});

/** The summary of every operation of the document. */
function operationSummaries(): string[] {
  const doc = openApiDocument() as unknown as { paths: Record<string, Record<string, { summary?: string }>> };
  return Object.values(doc.paths).flatMap((item) =>
    Object.values(item).flatMap((op) => (op.summary ? [op.summary] : [])),
  );
}
