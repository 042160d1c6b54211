/**
 * Headless Chromium for the tests that look at a page as a user would (Debian's `chromium`, driven by
 * puppeteer-core), and the git-ignored `.artifacts/` folder their screenshots land in.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { testBinary } from './binaries.js';

export const chromium = testBinary('chromium');
export const ARTIFACTS = join(import.meta.dirname, '..', '.artifacts');

/** A new headless Chromium (the caller closes it); the artifacts folder exists from then on. */
export function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return puppeteer.launch({
    executablePath: chromium.path(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

/** Run `use` with a fresh page of the given size in a new headless browser, closed afterwards. */
export async function withPage<T>(
  viewport: { width: number; height: number },
  use: (page: Page, browser: Browser) => Promise<T>,
): Promise<T> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setViewport(viewport);
    return await use(page, browser);
  } finally {
    await browser.close();
  }
}
