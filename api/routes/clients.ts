/**
 * Registration and email verification. Registering answers the same 201 whether the address is new or
 * already known (the mail it sends differs), so the endpoint does not reveal which addresses have an
 * account; both paths hash the password, so they cost about the same time.
 *
 * No pre-account hijacking: each registration's choices (password hash, names) travel with its own
 * verification link, and the user row takes them only when that link is followed. Registering a pending
 * address again supersedes the older links, so only the newest registration can be activated, and only
 * from the mailbox it was sent to. Whoever follows a link still cannot log in without the mailed code.
 */
import { z } from '@hono/zod-openapi';
import {
  findUserByEmail,
  insertRegistrationToken,
  insertUser,
  latestRegistration,
  verifyRegistration,
  type UserRow,
} from '../../db/queries/users.js';
import type { Registration } from '../../db/schema.js';
import type { Mail } from '../../lib/mailer.js';
import { clientAddress } from '../auth/client-address.js';
import { randomToken, tokenHash } from '../auth/crypto.js';
import { existingAccountMail, verificationMail } from '../auth/mails.js';
import { NewPassword, refuseWeakPassword } from '../auth/password-policy.js';
import { hashPassword } from '../auth/passwords.js';
import { authServices } from '../auth/services.js';
import { newTotpSecret } from '../auth/totp.js';
import { apiRoute, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';

export const MINIMUM_AGE_YEARS = 18;

export const EmailInput = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ message: 'must be an email address' }));

const name = z.string().trim().min(1, 'is required').max(100);

/** The token of a mailed link (256 random bits, base64url), refused by its shape before any lookup. */
export const linkToken = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]{20,128}$/, `is not ${what}`)
    .openapi({ description: 'The token of the mailed link' });

const RegisterBody = z
  .object({
    client: z
      .object({
        email: EmailInput,
        first_name: name,
        last_name: name,
        password: NewPassword,
        date_of_birth: z
          .string()
          .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date (YYYY-MM-DD)')
          .nullish(),
        phone: z
          .string()
          .trim()
          .regex(/^\+?[0-9][0-9 ().-]{5,19}$/, 'must be a phone number')
          .nullish(),
      })
      .strict(),
  })
  .strict()
  .openapi('RegisterClient');

const ResendBody = z.object({ email: EmailInput }).strict().openapi('ResendVerification');

const RegisteredSchema = z
  .object({ success: z.literal(true), status: z.literal('pending_verification'), message: z.string() })
  .openapi('Registered');

const REGISTERED = 'Registration received. Check your email for a verification link.';
const RESENT = 'If a registration is pending for this address, a new verification link was mailed.';
/** The answer to a registration and to a resend (the same whether or not the address is known). */
const pending = (message: string) => ({
  success: true as const,
  status: 'pending_verification' as const,
  message,
});

const VerifiedSchema = z
  .object({
    success: z.literal(true),
    status: z.literal('active'),
    message: z.string(),
    account_id: z.string(),
  })
  .openapi('Verified');

/**
 * Date of birth: a real calendar date, in the past, of someone at least 18 years old at `now`. The 18th
 * birthday counts once it has begun everywhere on Earth, that is at midnight UTC-12 (12:00 UTC that day),
 * so no time zone's evening before it (New York's from 19:00) admits a minor; someone born on 29 February
 * turns 18 on 1 March of a common year.
 */
export function dateOfBirthError(value: string, now: Date): string | undefined {
  const [y, m, d] = value.split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d)
    return 'client.date_of_birth: is not a valid date';
  if (y < 1900) return 'client.date_of_birth: is not a valid date';
  const adult = Date.UTC(y + MINIMUM_AGE_YEARS, m - 1, d, 12);
  if (adult > now.getTime())
    return (
      `client.date_of_birth: account holders must be at least ${MINIMUM_AGE_YEARS} years old ` +
      `(the ${MINIMUM_AGE_YEARS}th birthday counts from 12:00 UTC)`
    );
  return undefined;
}

export function clientRoutes(deps: ApiDeps) {
  const { config, mailer, logger } = deps;
  const db = deps.database.db;
  const { limiter } = authServices(deps);
  const app = createRouter();

  const send = async (mail: Mail) => {
    try {
      await mailer.send(mail);
    } catch (err) {
      logger.error('mail delivery failed', { err, subject: mail.subject });
      throw new ApiError('service_unavailable', 'Email could not be sent, try again shortly', undefined, {
        'retry-after': '5',
      });
    }
  };

  /**
   * A fresh single-use verification link for a pending user, carrying this registration's choices, mailed;
   * it supersedes every older link of the user.
   */
  const sendVerification = async (
    user: Pick<UserRow, 'id' | 'email'>,
    registration: Registration | undefined,
    now: Date,
  ) => {
    const token = randomToken();
    await insertRegistrationToken(db, {
      tokenHash: tokenHash(token),
      userId: user.id,
      expiresAt: new Date(now.getTime() + config.VERIFICATION_TOKEN_TTL_SECONDS * 1000),
      createdAt: now,
      registration,
    });
    // The trader's page at /verify follows the link (GET /api/v1/clients/verify) and offers the login.
    const link = `${config.PUBLIC_URL}/verify?token=${token}`;
    await send(verificationMail(user.email, link, config.VERIFICATION_TOKEN_TTL_SECONDS));
  };

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/clients/register',
      operationId: 'register',
      tag: 'identity',
      auth: 'public',
      summary: 'Register: sends a verification link by email (same answer for known addresses)',
      request: {
        body: {
          content: {
            'application/json': {
              schema: RegisterBody,
              example: {
                client: {
                  email: 'ada@example.com',
                  first_name: 'Ada',
                  last_name: 'Lovelace',
                  password: 'correct horse battery staple',
                  date_of_birth: '1990-12-10',
                  phone: '+44 20 7946 0000',
                },
              },
            },
          },
          required: true,
        },
      },
      responses: {
        201: {
          description: 'Registration received; check the mailbox',
          content: {
            'application/json': {
              schema: RegisteredSchema,
              example: pending(REGISTERED),
            },
          },
        },
      },
      errors: [429],
    }),
    async (c) => {
      const body = c.req.valid('json').client;
      const now = deps.now();
      if (body.date_of_birth) {
        const error = dateOfBirthError(body.date_of_birth, now);
        if (error) throw new ApiError('validation_failed', 'Validation failed', [error]);
      }
      refuseWeakPassword(body.password, 'client.password', { email: body.email });
      await limiter.hit(
        limiter.buckets('register', {
          address: clientAddress(c, config.TRUSTED_PROXY_HOPS),
          account: body.email,
        }),
      );

      // Hash first on every path: a known address costs what a new one costs.
      const registration: Registration = {
        passwordHash: await hashPassword(body.password),
        firstName: body.first_name,
        lastName: body.last_name,
        dateOfBirth: body.date_of_birth ?? null,
        phone: body.phone ?? null,
      };
      let existing = await findUserByEmail(db, body.email);
      if (!existing) {
        const created = await insertUser(db, {
          email: body.email,
          ...registration,
          totpSecret: newTotpSecret(),
          createdAt: now,
        });
        if (created) await sendVerification(created, registration, now);
        else existing = await findUserByEmail(db, body.email); // lost a race with the same address
      }
      if (existing?.status === 'pending') await sendVerification(existing, registration, now);
      else if (existing) await send(existingAccountMail(existing.email, config.PUBLIC_URL));

      return c.json(pending(REGISTERED), 201);
    },
  );

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/clients/verify',
      operationId: 'verifyEmail',
      tag: 'identity',
      auth: 'public',
      summary:
        'Verify the email address: activates the registration this link was mailed for (only the newest one of the address) and opens its cash account',
      request: {
        query: z.object({
          token: linkToken('a verification token').openapi({ example: 'Zq8mR3vT1xLp5sW9yB2nCe7F' }),
        }),
      },
      responses: {
        200: {
          description: 'Account active',
          sends: ['Cache-Control'],
          content: {
            'application/json': {
              schema: VerifiedSchema,
              example: {
                success: true,
                status: 'active',
                message: 'Email verified, your account is active',
                account_id: '5d0e7c1a-3b8f-4f7a-8f0c-9a2e6b1d4c33',
              },
            },
          },
        },
      },
      errors: [],
    }),
    async (c) => {
      const { token } = c.req.valid('query');
      const now = deps.now();
      const result = await db.transaction((tx) => verifyRegistration(tx, tokenHash(token), now));
      if (!result)
        throw new ApiError('validation_failed', 'Invalid or expired verification token', [
          'token: is invalid, expired, already used or superseded by a newer registration',
        ]);
      c.header('cache-control', 'no-store');
      return c.json(
        {
          success: true as const,
          status: 'active' as const,
          message: 'Email verified, your account is active',
          account_id: result.accountId,
        },
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/clients/resend_verification',
      operationId: 'resendVerification',
      tag: 'identity',
      auth: 'public',
      summary:
        'Mail a new verification link for a pending registration (always 202: no address oracle); older links stop working',
      request: {
        body: {
          content: { 'application/json': { schema: ResendBody, example: { email: 'ada@example.com' } } },
          required: true,
        },
      },
      responses: {
        202: {
          description: 'If a registration is pending, a new link is on its way',
          content: {
            'application/json': {
              schema: RegisteredSchema,
              example: pending(RESENT),
            },
          },
        },
      },
      errors: [429],
    }),
    async (c) => {
      const { email } = c.req.valid('json');
      await limiter.hit(
        limiter.buckets('register', { address: clientAddress(c, config.TRUSTED_PROXY_HOPS), account: email }),
      );
      const user = await findUserByEmail(db, email);
      if (user?.status === 'pending') {
        const now = deps.now();
        const registration = await latestRegistration(db, user.id);
        void sendVerification(user, registration, now).catch((err: unknown) =>
          logger.error('verification resend failed', { err }),
        );
      }
      return c.json(pending(RESENT), 202);
    },
  );

  return app;
}
