/** The request line the api logs for every request (api/app.ts), with a path as long as Node accepts. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import { createLogger, MAX_TEXT_LENGTH } from '../lib/logger.js';
import { createApp } from './app.js';
import { createApiMetrics } from './metrics.js';
import type { ApiDeps } from './types.js';

/** The app at LOG_LEVEL=info writing into `lines`; an unknown path calls no dependency. */
function appLogging(lines: Record<string, unknown>[]) {
  // Any property of a dependency can be read (the routes keep some when they are built), none called.
  const untouched: object = new Proxy(() => undefined, {
    get: (_, prop) => (prop === 'then' ? undefined : untouched),
    apply: () => expect.unreachable('a dependency was called'),
  });
  const deps = {
    config: loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'info' }),
    database: untouched,
    redis: untouched,
    temporal: untouched,
    mailer: untouched,
    logger: createLogger(
      'info',
      {},
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    ),
    metrics: createApiMetrics('unit'),
    now: () => new Date(),
  } as ApiDeps;
  return createApp(deps);
}

describe('request log line', () => {
  it('logs a path of 15,801 characters cut to MAX_TEXT_LENGTH by the logger, redacted', async () => {
    const lines: Record<string, unknown>[] = [];
    const app = appLogging(lines);
    const path = `/x/alice.smith@example.com/${'a-'.repeat(7887)}`;
    expect(path.length).toBe(15_801);
    const res = await app.request(path);
    expect(res.status).toBe(404);
    const logged = lines.find((line) => line.msg === 'request') as { path: string; status: number };
    expect(logged.status).toBe(404);
    const [kept, marker] = logged.path.split('...');
    expect(kept).toMatch(/^\/x\/a\*\*\*@example\.com\/a-a-a-/);
    expect(kept!.length).toBeLessThanOrEqual(MAX_TEXT_LENGTH);
    expect(marker).toBe('[cut from 15801 chars]');
    expect(logged.path).not.toContain('alice');
  });

  it('logs a path within MAX_TEXT_LENGTH whole', async () => {
    const lines: Record<string, unknown>[] = [];
    await appLogging(lines).request('/api/v1/nothing-here?token=t0k');
    expect(lines.find((line) => line.msg === 'request')).toMatchObject({
      path: '/api/v1/nothing-here',
      status: 404,
    });
  });
});
