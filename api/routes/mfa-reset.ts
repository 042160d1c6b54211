/**
 * The mail-based reset of a lost authenticator app (the way back without a recovery code): request after
 * the password step of a login, confirm with the mailed link, cancel with it. The app goes only
 * MFA_RESET_DELAY_SECONDS after the confirmation, and any sign of the owner meanwhile (a login with the
 * app or a recovery code, a password change or reset) cancels it. `request` always answers 202, so it
 * reveals nothing about which addresses have an account or an app. The flow: api/auth/mfa-reset.ts;
 * why the delay: docs/adr/0008-identity-and-tokens.md.
 */
import { z } from '@hono/zod-openapi';
import { findUserByEmail } from '../../db/queries/users.js';
import { clientAddress } from '../auth/client-address.js';
import { authServices } from '../auth/services.js';
import { apiRoute, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';
import { EmailInput, linkToken } from './clients.js';

const RequestBody = z.object({ email: EmailInput }).strict().openapi('MfaResetRequest');
const TokenBody = z
  .object({ token: linkToken('a reset token') })
  .strict()
  .openapi('MfaResetToken');
const ok = z.object({ success: z.literal(true), message: z.string() });
const Scheduled = z
  .object({
    success: z.literal(true),
    message: z.string(),
    effective_at: z.string().openapi({ description: 'When the app stops working, unless cancelled before' }),
  })
  .openapi('MfaResetScheduled');

const TOKEN_REQUEST = {
  body: {
    content: {
      'application/json': { schema: TokenBody, example: { token: 'mR4xT9vK2pLq7wZs0bN3cY8e' } },
    },
    required: true,
  },
};
const SCHEDULED =
  'The authenticator app will be removed at effective_at; until then a login with it cancels the reset';
const REQUESTED =
  'If a login with an authenticator app is in progress for this address, a link was mailed to it';
const invalidLink = () =>
  new ApiError('validation_failed', 'Invalid or expired reset link', [
    'token: is invalid, expired, already used or cancelled',
  ]);

export function mfaResetRoutes(deps: ApiDeps) {
  const { config } = deps;
  const db = deps.database.db;
  const { limiter, challenges, mfaResets } = authServices(deps);
  const app = createRouter();
  const address = (c: Parameters<typeof clientAddress>[0]) => clientAddress(c, config.TRUSTED_PROXY_HOPS);

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/mfa_reset/request',
      operationId: 'requestMfaReset',
      tag: 'identity',
      auth: 'public',
      summary:
        'Lost the authenticator app and its recovery codes: after the password step of a login, mail a link that schedules its removal (always 202)',
      request: {
        body: {
          content: { 'application/json': { schema: RequestBody, example: { email: 'ada@example.com' } } },
          required: true,
        },
      },
      responses: {
        202: {
          description:
            'When a login of this address passed its password step within 10 minutes and an app is enrolled, a confirmation link is on its way',
          content: { 'application/json': { schema: ok, example: { success: true, message: REQUESTED } } },
        },
      },
      errors: [429],
    }),
    async (c) => {
      const { email } = c.req.valid('json');
      await limiter.hit(limiter.buckets('mfaReset', { address: address(c), account: email }));
      const user = await findUserByEmail(db, email);
      // The open challenge proves the password; the link will prove the mailbox.
      if (user?.status === 'active' && user.totpEnrolledAt) {
        const challenge = await challenges.current(user);
        if (challenge?.method === 'totp') await mfaResets.request(user);
      }
      return c.json({ success: true as const, message: REQUESTED }, 202);
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/mfa_reset/confirm',
      operationId: 'confirmMfaReset',
      tag: 'identity',
      auth: 'public',
      summary:
        'Confirm an authenticator reset with the mailed token: the app is removed after MFA_RESET_DELAY_SECONDS unless cancelled; the owner is mailed',
      request: TOKEN_REQUEST,
      responses: {
        200: {
          description: 'Scheduled',
          content: {
            'application/json': {
              schema: Scheduled,
              example: {
                success: true,
                message: SCHEDULED,
                effective_at: '2026-03-05T14:30:00.000Z',
              },
            },
          },
        },
      },
      errors: [429],
    }),
    async (c) => {
      await limiter.hit(limiter.buckets('reset', { address: address(c) }));
      const effectiveAt = await mfaResets.confirm(c.req.valid('json').token);
      if (!effectiveAt) throw invalidLink();
      return c.json(
        {
          success: true as const,
          message: SCHEDULED,
          effective_at: effectiveAt.toISOString(),
        },
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/mfa_reset/cancel',
      operationId: 'cancelMfaReset',
      tag: 'identity',
      auth: 'public',
      summary:
        "Cancel every pending authenticator reset of the token's account, with the token of any reset mail; the owner is mailed",
      request: TOKEN_REQUEST,
      responses: {
        200: {
          description: 'No reset is pending any more',
          content: {
            'application/json': {
              schema: ok,
              example: { success: true, message: 'No authenticator reset is pending; the app keeps working' },
            },
          },
        },
      },
      errors: [429],
    }),
    async (c) => {
      await limiter.hit(limiter.buckets('reset', { address: address(c) }));
      if (!(await mfaResets.cancelByToken(c.req.valid('json').token))) throw invalidLink();
      return c.json(
        { success: true as const, message: 'No authenticator reset is pending; the app keeps working' },
        200,
      );
    },
  );

  return app;
}
