/**
 * The caller's own sessions (OWASP ASVS 5.0 7.5.2): `GET /api/v1/auth/sessions` lists the live ones (when
 * each started and was last used, from which address and User-Agent, which one is the caller's), and
 * `DELETE /api/v1/auth/sessions/{session_id}` ends one through the common revocation (refresh tokens
 * refused, access tokens refused at the next request, WebSockets closed with 4003). Another user's
 * session is answered like an unknown one (404): nothing tells that it exists. ADR 0008.
 */
import { z } from '@hono/zod-openapi';
import { requireAuth } from '../auth/middleware.js';
import { authServices } from '../auth/services.js';
import { apiRoute, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';

const Source = z
  .object({
    ip: z.string().nullable().openapi({ description: 'Client address (IPv6 by its /64); null if unknown' }),
    user_agent: z.string().nullable().openapi({ description: 'User-Agent header, printable, at most 200' }),
  })
  .openapi('SessionSource');
const SessionSchema = z
  .object({
    session_id: z.string(),
    current: z.boolean().openapi({ description: 'The session of the access token of this request' }),
    created_at: z.string().openapi({ description: 'The login (password and second factor)' }),
    last_used_at: z
      .string()
      .openapi({ description: 'The last login or token refresh: the session idles out from here' }),
    created_from: Source,
    last_used_from: Source,
  })
  .openapi('Session');
const SessionList = z
  .object({ success: z.literal(true), sessions: z.array(SessionSchema) })
  .openapi('Sessions');
const SessionParam = z.object({ session_id: z.uuid({ message: 'must be a session id (uuid)' }) });

const EXAMPLE_SESSION = {
  session_id: '3f1e2d4c-5b6a-4789-9abc-def012345678',
  current: true,
  created_at: '2026-03-02T14:30:00.000Z',
  last_used_at: '2026-03-02T15:15:00.000Z',
  created_from: { ip: '203.0.113.7', user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' },
  last_used_from: { ip: '203.0.113.7', user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' },
} as const satisfies z.infer<typeof SessionSchema>;

export function accountSessionRoutes(deps: ApiDeps) {
  const { sessions } = authServices(deps);
  const app = createRouter();
  app.use('/api/v1/auth/sessions', requireAuth(deps));
  app.use('/api/v1/auth/sessions/*', requireAuth(deps));

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/auth/sessions',
      operationId: 'listSessions',
      tag: 'identity',
      auth: 'bearer',
      summary:
        "The caller's live sessions (logins not ended, expired or idled out), last used first, with where each started and was last used",
      responses: {
        200: {
          description: 'Live sessions',
          sends: ['Cache-Control'],
          content: {
            'application/json': {
              schema: SessionList,
              example: { success: true, sessions: [EXAMPLE_SESSION] },
            },
          },
        },
      },
      errors: [],
    }),
    async (c) => {
      const current = c.get('sessionId');
      const list = await sessions.list(c.get('principal').userId);
      c.header('cache-control', 'no-store');
      return c.json(
        {
          success: true as const,
          sessions: list.map((s) => ({
            session_id: s.id,
            current: s.id === current,
            created_at: s.createdAt.toISOString(),
            last_used_at: s.lastUsedAt.toISOString(),
            created_from: { ip: s.created.ip, user_agent: s.created.userAgent },
            last_used_from: { ip: s.lastUsed.ip, user_agent: s.lastUsed.userAgent },
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'delete',
      path: '/api/v1/auth/sessions/{session_id}',
      operationId: 'endSession',
      tag: 'identity',
      auth: 'bearer',
      summary:
        "End one of the caller's sessions: its refresh token stops working, its access tokens are refused and its live-feed sockets close (4003). 404 for an unknown session or another user's",
      request: { params: SessionParam },
      responses: {
        200: {
          description: 'Ended',
          sends: ['Cache-Control'],
          content: {
            'application/json': {
              schema: z.object({ success: z.literal(true), message: z.string() }),
              example: { success: true, message: 'Session ended' },
            },
          },
        },
      },
      errors: [404],
    }),
    async (c) => {
      const { session_id: sessionId } = c.req.valid('param');
      if (!(await sessions.endOwn(c.get('principal').userId, sessionId)))
        throw new ApiError('not_found', 'Session not found');
      c.header('cache-control', 'no-store');
      return c.json({ success: true as const, message: 'Session ended' }, 200);
    },
  );

  return app;
}
