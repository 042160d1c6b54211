/** Liveness and readiness. Metrics are served on a port of their own (api/main.ts, API_METRICS_PORT). */
import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../openapi.js';
import type { ApiDeps } from '../types.js';

const HealthSchema = z.object({ status: z.literal('ok'), timestamp: z.string() }).openapi('Health');
const ReadySchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), ms: z.number(), error: z.string().optional() })),
  })
  .openapi('Ready');

const healthRoute = (path: string) =>
  createRoute({
    method: 'get',
    path,
    tags: ['ops'],
    summary: 'Liveness',
    responses: { 200: { description: 'Alive', content: { 'application/json': { schema: HealthSchema } } } },
  });

async function timed(fn: () => Promise<unknown>, timeoutMs: number): Promise<{ ok: boolean; ms: number; error?: string }> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), timeoutMs))),
    ]);
    return { ok: true, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - t0), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(deps: ApiDeps) {
  const app = createRouter();
  /** Set by api/main.ts on SIGTERM: readiness fails first so the load balancer drains this instance. */
  const health = () => ({ status: 'ok' as const, timestamp: deps.now().toISOString() });
  app.openapi(healthRoute('/health'), (c) => c.json(health(), 200));
  app.openapi(healthRoute('/api/v1/health'), (c) => c.json(health(), 200));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/ready',
      tags: ['ops'],
      summary: 'Readiness: Postgres, Redis and Temporal reachable',
      responses: {
        200: { description: 'Ready', content: { 'application/json': { schema: ReadySchema } } },
        503: { description: 'Not ready', content: { 'application/json': { schema: ReadySchema } } },
      },
    }),
    async (c) => {
      const [postgres, redis, temporal] = await Promise.all([
        timed(() => deps.database.sql`SELECT 1`, 2000),
        timed(() => deps.redis.ping(), 2000),
        timed(() => deps.temporal.workflowService.getSystemInfo({}), 2000),
      ]);
      const checks = { postgres, redis, temporal };
      for (const [name, r] of Object.entries(checks)) deps.metrics.dependencyUp.set({ dependency: name }, r.ok ? 1 : 0);
      const draining = deps.draining?.() ?? false;
      const ok = !draining && postgres.ok && redis.ok && temporal.ok;
      return c.json({ status: ok ? ('ready' as const) : ('not_ready' as const), checks }, ok ? 200 : 503);
    },
  );

  return app;
}
