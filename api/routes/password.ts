/**
 * Password forgot, reset and change. `forgot` always answers 202 (the mail goes out, or not, after the
 * answer), so it reveals nothing about which addresses have an account. A reset link works once, for
 * PASSWORD_RESET_TTL_SECONDS, ends every session of the user and mails the owner; a change needs the
 * current password, ends the user's other sessions, spends the user's reset links and mails the owner,
 * unless the password changed since it was checked (a reset meanwhile: 409, and the reset stands).
 * Either ends a login in progress (its challenge holds the old password's fingerprint: challenges.ts)
 * and cancels a pending authenticator reset, which the old password had asked for. Once the new password
 * is committed, the rest is done even if Redis fails meanwhile: the sessions' revocation marks are best
 * effort (sessions.ts), the mail and the cancellation need no Redis. ADR 0008 has the lifecycle.
 */
import { z } from '@hono/zod-openapi';
import {
  consumePasswordReset,
  findUserByEmail,
  findUserById,
  insertPasswordResetToken,
  passwordResetOwner,
  setPasswordHash,
} from '../../db/queries/users.js';
import { clientAddress } from '../auth/client-address.js';
import { randomToken, tokenHash } from '../auth/crypto.js';
import { noticeSender, passwordChangedMail, passwordResetMail } from '../auth/mails.js';
import { requireAuth } from '../auth/middleware.js';
import { NewPassword, refuseWeakPassword } from '../auth/password-policy.js';
import { hashPassword, verifyPassword } from '../auth/passwords.js';
import { authServices } from '../auth/services.js';
import { apiRoute, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';
import { EmailInput, linkToken } from './clients.js';

export const PASSWORD_RESET_TTL_SECONDS = 30 * 60;

const ForgotBody = z.object({ email: EmailInput }).strict().openapi('PasswordForgot');
const ResetBody = z
  .object({
    token: linkToken('a reset token'),
    password: NewPassword,
  })
  .strict()
  .openapi('PasswordReset');
const ChangeBody = z
  .object({ current_password: z.string().min(1, 'is required').max(1024), new_password: NewPassword })
  .strict()
  .openapi('PasswordChange');
const ok = z.object({ success: z.literal(true), message: z.string() }).openapi('Done');

export function passwordRoutes(deps: ApiDeps) {
  const { config, mailer, logger } = deps;
  const db = deps.database.db;
  const { limiter, sessions, mfaResets } = authServices(deps);
  const app = createRouter();
  const address = (c: Parameters<typeof clientAddress>[0]) => clientAddress(c, config.TRUSTED_PROXY_HOPS);
  const notify = noticeSender(mailer, logger);

  app.use('/api/v1/auth/password/change', requireAuth(deps));

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/password/forgot',
      operationId: 'forgotPassword',
      tag: 'identity',
      auth: 'public',
      summary: 'Mail a single-use, short-lived password-reset link (always 202: no address oracle)',
      request: {
        body: {
          content: { 'application/json': { schema: ForgotBody, example: { email: 'ada@example.com' } } },
          required: true,
        },
      },
      responses: {
        202: {
          description: 'If the address has an account, a link is on its way',
          content: {
            'application/json': {
              schema: ok,
              example: {
                success: true,
                message: 'If this address has an account, a reset link was mailed to it',
              },
            },
          },
        },
      },
      errors: [429],
    }),
    async (c) => {
      const { email } = c.req.valid('json');
      await limiter.hit(limiter.buckets('forgot', { address: address(c), account: email }));
      const user = await findUserByEmail(db, email);
      if (user?.status === 'active') {
        const token = randomToken();
        const now = deps.now();
        await insertPasswordResetToken(db, {
          tokenHash: tokenHash(token),
          userId: user.id,
          expiresAt: new Date(now.getTime() + PASSWORD_RESET_TTL_SECONDS * 1000),
          createdAt: now,
        });
        const link = `${config.PUBLIC_URL}/reset-password?token=${token}`;
        notify(passwordResetMail(user.email, link, PASSWORD_RESET_TTL_SECONDS / 60));
      }
      return c.json(
        { success: true as const, message: 'If this address has an account, a reset link was mailed to it' },
        202,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/password/reset',
      operationId: 'resetPassword',
      tag: 'identity',
      auth: 'public',
      summary: 'Set a new password with the mailed token: ends every session and notifies the owner',
      request: {
        body: {
          content: {
            'application/json': {
              schema: ResetBody,
              example: { token: 'q3Xv9R2mT7kLp0sW4yZb8NcE', password: 'correct horse battery staple' },
            },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: 'Password set; log in again',
          sends: ['Cache-Control'],
          content: {
            'application/json': {
              schema: ok,
              example: { success: true, message: 'Password changed. Log in with the new password.' },
            },
          },
        },
      },
      errors: [429],
    }),
    async (c) => {
      const { token, password } = c.req.valid('json');
      await limiter.hit(limiter.buckets('reset', { address: address(c) }));
      const invalidLink = () =>
        new ApiError('validation_failed', 'Invalid or expired reset link', [
          'token: is invalid, expired or already used',
        ]);
      // The link stays usable after a refused password: the owner picks another one.
      const owner = await passwordResetOwner(db, tokenHash(token), deps.now());
      if (!owner) throw invalidLink();
      refuseWeakPassword(password, 'password', owner);
      const userId = await consumePasswordReset(db, {
        tokenHash: tokenHash(token),
        passwordHash: await hashPassword(password),
        now: deps.now(),
      });
      if (!userId) throw invalidLink();
      await sessions.revokeUser(userId, 'password_reset');
      const user = await findUserById(db, userId);
      if (user) {
        notify(passwordChangedMail(user.email, 'reset'));
        await mfaResets.cancelOpen(user, 'password_reset');
      }
      c.header('cache-control', 'no-store');
      return c.json(
        { success: true as const, message: 'Password changed. Log in with the new password.' },
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/password/change',
      operationId: 'changePassword',
      tag: 'identity',
      auth: 'bearer',
      summary: 'Change the password (current one required): ends the other sessions and notifies the owner',
      request: {
        body: {
          content: {
            'application/json': {
              schema: ChangeBody,
              example: {
                current_password: 'correct horse battery staple',
                new_password: 'a longer new passphrase',
              },
            },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: 'Password changed',
          content: {
            'application/json': {
              schema: ok,
              example: { success: true, message: 'Password changed; other sessions were ended' },
            },
          },
        },
      },
      errors: [409, 429],
    }),
    async (c) => {
      const principal = c.get('principal');
      const body = c.req.valid('json');
      await limiter.hit(limiter.buckets('reauth', { address: address(c), account: principal.userId }));
      const user = await findUserById(db, principal.userId);
      if (!user || !(await verifyPassword(user.passwordHash, body.current_password)))
        throw new ApiError('unauthorized', 'The current password is not correct');
      refuseWeakPassword(body.new_password, 'new_password', user);
      const changed = await setPasswordHash(db, {
        userId: user.id,
        checkedHash: user.passwordHash,
        passwordHash: await hashPassword(body.new_password),
        now: deps.now(),
      });
      // A reset (or another change) committed after the check: it stands, and nothing else happens here.
      if (!changed)
        throw new ApiError(
          'conflict',
          'The password was changed meanwhile; nothing was changed by this request',
        );
      await sessions.revokeUser(user.id, 'password_change', c.get('sessionId'));
      notify(passwordChangedMail(user.email, 'changed'));
      await mfaResets.cancelOpen(user, 'password_change');
      return c.json({ success: true as const, message: 'Password changed; other sessions were ended' }, 200);
    },
  );

  return app;
}
