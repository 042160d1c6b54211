/** Every resource sub-app, mounted in one place. */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ApiDeps, AppEnv } from '../types.js';
import { marketRoutes } from './market.js';
import { orderRoutes } from './orders.js';

export function mountRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDeps): void {
  app.route('/', orderRoutes(deps));
  app.route('/', marketRoutes(deps));
}
