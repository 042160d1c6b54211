/** Liveness and readiness. Metrics are served on a port of their own (api/main.ts, API_METRICS_PORT). */
import { z } from '@hono/zod-openapi';
import { apiRoute, createRouter } from '../openapi.js';
import { checkDependencies } from '../dependencies.js';
import type { ApiDeps } from '../types.js';

const HealthSchema = z.object({ status: z.literal('ok'), timestamp: z.string() }).openapi('Health');
const ReadySchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), ms: z.number(), error: z.string().optional() })),
  })
  .openapi('Ready');

const healthExample = { status: 'ok', timestamp: '2026-03-02T14:30:00.000Z' } as const;
const healthRoute = (path: string, operationId: string, summary: string) =>
  apiRoute({
    method: 'get',
    path,
    operationId,
    tag: 'ops',
    auth: 'public',
    summary,
    offline: true,
    errors: [],
    responses: {
      200: {
        description: 'Alive',
        content: { 'application/json': { schema: HealthSchema, example: healthExample } },
      },
    },
  });

export function healthRoutes(deps: ApiDeps) {
  const app = createRouter();
  /** Set by api/main.ts on SIGTERM: readiness fails first so the load balancer drains this instance. */
  const health = () => ({ status: 'ok' as const, timestamp: deps.now().toISOString() });
  app.openapi(healthRoute('/health', 'liveness', 'Liveness (for load balancers and orchestrators)'), (c) =>
    c.json(health(), 200),
  );
  app.openapi(healthRoute('/api/v1/health', 'apiLiveness', 'Liveness under the API prefix /api/v1'), (c) =>
    c.json(health(), 200),
  );

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/ready',
      operationId: 'readiness',
      tag: 'ops',
      auth: 'public',
      summary: 'Readiness: Postgres, Redis and Temporal reachable',
      errors: [],
      responses: {
        200: {
          description: 'Ready',
          content: {
            'application/json': {
              schema: ReadySchema,
              example: {
                status: 'ready',
                checks: {
                  postgres: { ok: true, ms: 1.2 },
                  redis: { ok: true, ms: 0.4 },
                  temporal: { ok: true, ms: 3.1 },
                },
              },
            },
          },
        },
        503: {
          description: 'Not ready (a dependency is down, or the instance is draining)',
          content: {
            'application/json': {
              schema: ReadySchema,
              example: {
                status: 'not_ready',
                checks: {
                  postgres: { ok: true, ms: 1.2 },
                  redis: { ok: false, ms: 250, error: 'Connection is closed.' },
                  temporal: { ok: true, ms: 3.1 },
                },
              },
            },
          },
        },
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
