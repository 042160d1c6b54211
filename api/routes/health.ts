/** Liveness and readiness. Metrics are served on a port of their own (api/main.ts, API_METRICS_PORT). */
import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../openapi.js';
import { checkDependencies } from '../dependencies.js';
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
      const checks = await checkDependencies(deps);
      const { postgres, redis, temporal } = checks;
      const draining = deps.draining?.() ?? false;
      const ok = !draining && postgres.ok && redis.ok && temporal.ok;
      return c.json({ status: ok ? ('ready' as const) : ('not_ready' as const), checks }, ok ? 200 : 503);
    },
  );

  return app;
}
