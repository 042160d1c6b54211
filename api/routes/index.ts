/** Every resource sub-app, mounted in one place. */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Admission } from '../admission.js';
import type { ApiDeps, AppEnv } from '../types.js';
import { clockRoutes } from './clock.js';
import { marketRoutes } from './market.js';
import { orderRoutes } from './orders.js';
import { cancelAllRoutes } from './cancel-all.js';
import { adminRoutes } from './admin.js';
import { timelineRoutes } from './timeline.js';
import { executionRoutes } from './executions.js';
import { statementRoutes } from './statement.js';
import { accountSessionRoutes } from './account-sessions.js';
import { authRoutes } from './auth.js';
import { clientRoutes } from './clients.js';
import { fundingRoutes } from './funding.js';
import { mfaResetRoutes } from './mfa-reset.js';
import { passwordRoutes } from './password.js';
import { portfolioRoutes } from './portfolio.js';

export function mountRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDeps, admission: Admission): void {
  app.route('/', clientRoutes(deps));
  app.route('/', authRoutes(deps));
  app.route('/', accountSessionRoutes(deps));
  app.route('/', passwordRoutes(deps));
  app.route('/', mfaResetRoutes(deps));
  app.route('/', fundingRoutes(deps));
  app.route('/', portfolioRoutes(deps));
  app.route('/', orderRoutes(deps, admission));
  app.route('/', cancelAllRoutes(deps, admission));
  app.route('/', timelineRoutes(deps));
  app.route('/', executionRoutes(deps));
  app.route('/', statementRoutes(deps));
  app.route('/', marketRoutes(deps));
  app.route('/', clockRoutes(deps));
  app.route('/', adminRoutes(deps));
}
