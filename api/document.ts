/**
 * The OpenAPI document without a running api: `createApp` over dependencies that are never called
 * (building the routes reads configuration only), for the client generator (scripts/openapi.ts) and the
 * contract tests. The document a live api serves at /openapi.json is the same one.
 */
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { createApp } from './app.js';
import { documentConfig } from './openapi.js';
import { createApiMetrics } from './metrics.js';
import type { ApiDeps } from './types.js';

/** A stand-in for a dependency: any property or call gives another stand-in; nothing is ever reached. */
function inert(): never {
  const stand: object = new Proxy(() => stand, { get: (_t, prop) => (prop === 'then' ? undefined : stand) });
  return stand as never;
}

/** The api with its routes and document, over dependencies that are never reached. */
export function inertApp(env: Record<string, string | undefined> = { NODE_ENV: 'test' }) {
  const config = loadConfig(env);
  const deps: ApiDeps = {
    config,
    database: inert(),
    redis: inert(),
    temporal: inert(),
    mailer: inert(),
    logger: createLogger('silent'),
    metrics: createApiMetrics('document'),
    now: () => new Date(),
  };
  return { app: createApp(deps), config };
}

export function openApiDocument(env?: Record<string, string | undefined>) {
  const { app, config } = inertApp(env);
  return app.getOpenAPI31Document(documentConfig(config));
}
