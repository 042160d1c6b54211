/**
 * Login (password, then a TOTP code or a recovery code), token refresh and logout, re-authentication,
 * authenticator-app enrollment, replacement and removal, the login unlock link, and the public keys at
 * /.well-known/jwks.json. Design and limits: docs/adr/0008-identity-and-tokens.md.
 *
 * A successful password check opens a login challenge in Redis (10 minutes, void once the password
 * changes); verify_mfa needs one, so nobody can guess codes without the password. Only wrong codes from
 * sources the owner never logged in from count against the account (countMfaAttempt), so nobody spends
 * the owner's MFA attempts either. Changing the second factor needs a recent re-authentication of the
 * session and mails the owner. A lost app without recovery codes is reset by mail, with a delay
 * (mfa-reset.ts); a login with the app cancels such a reset.
 */
import { z } from '@hono/zod-openapi';
import { toDataURL } from 'qrcode';
import {
  activateTotpSecret,
  clientAccountOf,
  consumeRecoveryCode,
  consumeTotpStep,
  findUserByEmail,
  findUserById,
  hasHadSession,
  removeTotp,
  setPendingTotpSecret,
} from '../../db/queries/users.js';
import {
  CHALLENGE_TTL_SECONDS,
  passwordFingerprint,
  type Challenge,
  type MfaMethod,
} from '../auth/challenges.js';
import { clientAddress, requestSource } from '../auth/client-address.js';
import { randomBytes } from 'node:crypto';
import { tokenHash } from '../auth/crypto.js';
import {
  loginCodeMail,
  loginUnlockMail,
  mfaChangedMail,
  newLoginMail,
  noticeSender,
  reauthCodeMail,
} from '../auth/mails.js';
import { UNLOCK_TTL_SECONDS } from '../auth/step-up.js';
import { bearerToken, requireAuth } from '../auth/middleware.js';
import { verifyDummy, verifyPassword, warmDummyHash } from '../auth/passwords.js';
import { authServices } from '../auth/services.js';
import { unauthorized } from '../auth/sessions.js';
import {
  codeForStep,
  emailCodeStep,
  matchAppCode,
  matchStepCode,
  newTotpSecret,
  otpauthUri,
} from '../auth/totp.js';
import { apiRoute, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';
import { linkToken } from './clients.js';

const LoginEmail = z.string().trim().toLowerCase().min(1, 'is required').max(254);
const Code = z
  .union([z.string().trim(), z.number().int().min(0).max(999_999)])
  .transform((v) => (typeof v === 'number' ? String(v).padStart(6, '0') : v))
  .pipe(z.string().regex(/^\d{6}$/, 'must be a 6-digit code'))
  .openapi({ type: 'string', example: '123456' });
const RefreshTokenInput = z.string().min(20).max(200);
/** Recovery codes: ten groups of 5 base32 characters, shown once at activation. */
const RECOVERY_CODE_COUNT = 10;
const RecoveryCode = z
  .string()
  .trim()
  .toUpperCase()
  .transform((v) => v.replace(/[\s-]/g, ''))
  .pipe(z.string().regex(/^[A-Z2-7]{10}$/, 'is not a recovery code'))
  .openapi({ type: 'string', example: 'ABCDE-FGHIJ' });
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export function newRecoveryCode(): string {
  const chars = [...randomBytes(10)].map((b) => BASE32[b % 32]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}
const recoveryCodeHash = (userId: string, code: string) =>
  tokenHash(`${userId}:${code.toUpperCase().replace(/[\s-]/g, '')}`);

const LoginBody = z
  .object({ email: LoginEmail, password: z.string().min(1, 'is required').max(1024) })
  .strict()
  .openapi('Login');
const VerifyMfaBody = z
  .object({
    email: LoginEmail,
    code: Code.optional(),
    recovery_code: RecoveryCode.optional().openapi({
      description: 'Instead of `code`: one of the recovery codes shown at activation (each works once)',
    }),
  })
  .strict()
  .refine((b) => (b.code === undefined) !== (b.recovery_code === undefined), {
    message: 'send either code or recovery_code',
  })
  .openapi('VerifyMfa');
const ReauthBody = z
  .object({
    password: z.string().min(1, 'is required').max(1024),
    code: Code.optional().openapi({
      description:
        "The second factor: the authenticator app's current code, or the code mailed by a first request without one (accounts without an app)",
    }),
    recovery_code: RecoveryCode.optional().openapi({
      description:
        'Instead of `code`, with an authenticator app: one of its recovery codes (each works once)',
    }),
  })
  .strict()
  .refine((b) => b.code === undefined || b.recovery_code === undefined, {
    message: 'send code or recovery_code, not both',
  })
  .openapi('Reauthenticate');
const UnlockBody = z
  .object({ token: linkToken('an unlock token') })
  .strict()
  .openapi('UnlockLogin');
const RefreshBody = z.object({ refresh_token: RefreshTokenInput }).strict().openapi('Refresh');
const LogoutBody = z.object({ refresh_token: RefreshTokenInput.optional() }).strict().openapi('Logout');
const ActivateBody = z.object({ code: Code }).strict().openapi('ActivateTotp');

const LoginSchema = z
  .object({
    success: z.literal(true),
    mfa_required: z.literal(true),
    mfa_method: z.enum(['email', 'totp']),
    expires_in: z.number(),
    message: z.string(),
  })
  .openapi('LoginChallenge');

const TokenSchema = z
  .object({
    success: z.literal(true),
    token: z.string(),
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number(),
    expires_at: z.string(),
    refresh_token: z.string(),
    refresh_expires_at: z.string(),
    user_id: z.string(),
    account_id: z.string(),
    email: z.string(),
  })
  .openapi('Tokens');

const EnrollmentSchema = z
  .object({
    success: z.literal(true),
    otpauth_uri: z.string(),
    secret: z.string(),
    qr_code: z.string().openapi({ description: 'PNG data URL of the otpauth URI' }),
    message: z.string(),
  })
  .openapi('TotpEnrollment');

const ActivatedSchema = z
  .object({
    success: z.literal(true),
    message: z.string(),
    recovery_codes: z.array(z.string()).openapi({
      description: 'Shown once: each works once in verify_mfa as recovery_code when the app is lost',
    }),
  })
  .openapi('TotpActivated');
const ReauthenticatedSchema = z
  .object({ success: z.literal(true), message: z.string(), expires_in: z.number() })
  .openapi('Reauthenticated');
const ReauthCodeRequiredSchema = z
  .object({
    success: z.literal(true),
    second_factor_required: z.literal(true),
    mfa_method: z.enum(['email', 'totp']).openapi({
      description:
        'totp: send the code of the authenticator app (or a recovery code); email: a code was just mailed, send it',
    }),
    expires_in: z.number().openapi({ description: 'Seconds the mailed code stays valid (email)' }),
    message: z.string(),
  })
  .openapi('ReauthenticationCodeRequired');

const JwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).openapi('Jwks');

const ok = z.object({ success: z.literal(true), message: z.string() });

const REFRESH_EXAMPLE = { refresh_token: 'rt_4f9c2b7e1a8d4c6e9b0a3f5d7c2e8b1a' };
/** An EdDSA access token's shape (header: alg EdDSA, the key's thumbprint as kid, typ at+jwt). */
const ACCESS_TOKEN_EXAMPLE =
  'eyJhbGciOiJFZERTQSIsImtpZCI6Ik9EQmxBSEZfeU4wVVpjMVlqc010WGZEVDlVd3d5b2VGS19kRmxBTGN0YVkiLCJ0eXAiOiJhdCtqd3QifQ.eyJzdWIiOiI4YTdiNmM1ZCJ9.c2lnbmF0dXJl';
const TOKENS_EXAMPLE = {
  success: true,
  token: ACCESS_TOKEN_EXAMPLE,
  access_token: ACCESS_TOKEN_EXAMPLE,
  token_type: 'Bearer',
  expires_in: 900,
  expires_at: '2026-03-02T14:45:00.000Z',
  refresh_token: REFRESH_EXAMPLE.refresh_token,
  refresh_expires_at: '2026-03-09T14:30:00.000Z',
  user_id: '8a7b6c5d-4e3f-4a1b-9c2d-3e4f5a6b7c8d',
  account_id: '5d0e7c1a-3b8f-4f7a-8f0c-9a2e6b1d4c33',
  email: 'ada@example.com',
} as const satisfies z.infer<typeof TokenSchema>;

const invalidCode = () => unauthorized('The code is invalid or expired');

export function authRoutes(deps: ApiDeps) {
  const { config, mailer, logger } = deps;
  const db = deps.database.db;
  const { keys, limiter, sessions, stepUp, challenges, mfaResets } = authServices(deps);
  const app = createRouter();
  void warmDummyHash().catch((err: unknown) => logger.error('dummy hash failed', { err }));
  const address = (c: Parameters<typeof clientAddress>[0]) => clientAddress(c, config.TRUSTED_PROXY_HOPS);

  app.use('/api/v1/auth/mfa/*', requireAuth(deps));
  app.use('/api/v1/auth/reauthenticate', requireAuth(deps));

  const notify = noticeSender(mailer, logger);

  /**
   * The per-account login limit applies to sources the account does not trust (never completed a login,
   * never opened an unlock link); when it trips, the owner is mailed an unlock link (once per hour). The
   * link opens the trader's page at /unlock, which posts the token when the owner presses its button:
   * following the link changes nothing, so a mail scanner cannot spend it.
   */
  const accountLimit = async (email: string, ip: string | undefined) => {
    if (await stepUp.isTrusted(email, ip)) return;
    try {
      await limiter.hit(limiter.buckets('login', { address: ip, account: email }, ['account']));
    } catch (err) {
      const user = await findUserByEmail(db, email);
      const token = user?.status === 'active' ? await stepUp.newUnlockToken(email) : undefined;
      if (user && token) {
        const link = `${config.PUBLIC_URL}/unlock?token=${token}`;
        notify(loginUnlockMail(user.email, link, UNLOCK_TTL_SECONDS / 60));
      }
      throw err;
    }
  };

  /**
   * Count a second-factor attempt of `user` from `ip` (429 over a limit) before its code is checked; the
   * function it returns is called once the code was right. Per (account, address) every attempt counts and
   * a right code clears the count. Per account only wrong codes count, and none from a source the account
   * trusts (as for the login limit): a stranger guessing while the owner's login is open does not lock the
   * owner out, nor do the owner's own logins add up. The attempt is counted before the check, so parallel
   * guesses cannot overrun the limit, and a right code gives it back.
   */
  const countMfaAttempt = async (user: { id: string; email: string }, ip: string | undefined) => {
    const scope = { address: ip, account: user.id };
    const pair = limiter.buckets('mfa', scope, ['accountAddress']);
    const account = (await stepUp.isTrusted(user.email, ip))
      ? []
      : limiter.buckets('mfa', scope, ['account']);
    await limiter.hit([...pair, ...account]);
    return async () => {
      await limiter.reset(pair);
      await limiter.refund(account);
    };
  };

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/login',
      operationId: 'login',
      tag: 'identity',
      auth: 'public',
      summary:
        'Check the password; the answer asks for a TOTP code (emailed until an authenticator app is enrolled)',
      request: {
        body: {
          content: {
            'application/json': {
              schema: LoginBody,
              example: { email: 'ada@example.com', password: 'correct horse battery staple' },
            },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: 'Password accepted, MFA required (no token yet)',
          content: {
            'application/json': {
              schema: LoginSchema,
              example: {
                success: true,
                mfa_required: true,
                mfa_method: 'email',
                expires_in: 600,
                message: 'A login code was sent to your email address',
              },
            },
          },
        },
      },
      errors: [401, 403, 429],
    }),
    async (c) => {
      const { email, password } = c.req.valid('json');
      const ip = address(c);
      await limiter.hit(
        limiter.buckets('login', { address: ip, account: email }, ['address', 'accountAddress']),
      );
      await accountLimit(email, ip);
      const found = await findUserByEmail(db, email);
      const valid = found ? await verifyPassword(found.passwordHash, password) : await verifyDummy(password);
      if (!found || !valid) throw new ApiError('unauthorized', 'Invalid email or password');
      if (found.status === 'pending')
        throw new ApiError('forbidden', 'Verify your email address before logging in');
      if (found.status !== 'active') throw new ApiError('forbidden', 'This account is suspended');
      await limiter.reset(limiter.buckets('login', { address: ip, account: email }, ['accountAddress']));
      // A confirmed authenticator reset whose delay has passed takes effect now: this login gets a mailed code.
      const user = await mfaResets.completeDue(found);

      const now = deps.now();
      const method: MfaMethod = user.totpEnrolledAt ? 'totp' : 'email';
      const challenge: Challenge = {
        method,
        issuedAt: now.toISOString(),
        password: passwordFingerprint(found.passwordHash),
      };
      if (method === 'email') {
        challenge.step = emailCodeStep(now, Number(user.totpLastStep));
        const code = await codeForStep(user.totpSecret, challenge.step);
        try {
          await mailer.send(loginCodeMail(user.email, code, CHALLENGE_TTL_SECONDS / 60));
        } catch (err) {
          logger.error('mail delivery failed', { err });
          throw new ApiError(
            'service_unavailable',
            'The login code could not be sent, try again shortly',
            undefined,
            { 'retry-after': '5' },
          );
        }
      }
      await challenges.open(user.id, challenge);
      return c.json(
        {
          success: true as const,
          mfa_required: true as const,
          mfa_method: method,
          expires_in: CHALLENGE_TTL_SECONDS,
          message:
            method === 'email'
              ? 'A login code was sent to your email address'
              : 'Enter the code from your authenticator app',
        },
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/verify_mfa',
      operationId: 'verifyMfa',
      tag: 'identity',
      auth: 'public',
      summary:
        'Second factor: a TOTP code (accepted once) or a recovery code (single use) for an access token and a refresh token',
      request: {
        body: {
          content: {
            'application/json': {
              schema: VerifyMfaBody,
              example: { email: 'ada@example.com', code: '123456' },
            },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: 'Authenticated',
          sends: ['Cache-Control'],
          content: { 'application/json': { schema: TokenSchema, example: TOKENS_EXAMPLE } },
        },
      },
      errors: [401, 429],
    }),
    async (c) => {
      const { email, code, recovery_code: recoveryCode } = c.req.valid('json');
      const ip = address(c);
      await limiter.hit(limiter.buckets('mfa', { address: ip }));
      const user = await findUserByEmail(db, email);
      const challenge = await challenges.current(user);
      // No password step behind this request (or the user was suspended, or the password changed, since):
      // refuse without spending the account's attempt budget.
      if (!user || !challenge || user.status !== 'active') throw invalidCode();
      const codeWasRight = await countMfaAttempt(user, ip);

      if (recoveryCode !== undefined) {
        // Recovery codes stand in for an authenticator app: a login on mailed codes takes none.
        if (
          challenge.method !== 'totp' ||
          !(await consumeRecoveryCode(db, user.id, recoveryCodeHash(user.id, recoveryCode), deps.now()))
        )
          throw invalidCode();
        notify(mfaChangedMail(user.email, 'a recovery code was used to log in (it no longer works)'));
      } else {
        let step: number | null = null;
        if (challenge.method === 'email') {
          if (
            challenge.step !== undefined &&
            (await matchStepCode(user.totpSecret, code ?? '', challenge.step))
          )
            step = challenge.step;
        } else {
          step = await matchAppCode(user.totpSecret, code ?? '', deps.now(), Number(user.totpLastStep));
        }
        // The compare-and-set makes the code single-use, also against a concurrent request with the same code.
        if (step === null || !(await consumeTotpStep(db, user.id, step))) throw invalidCode();
      }
      await codeWasRight();

      await challenges.close(user.id);
      const account = await clientAccountOf(db, user.id);
      if (!account) throw new ApiError('forbidden', 'This user has no account');
      const firstLogin = !(await hasHadSession(db, user.id));
      // A reset or change of the password since this login checked it (racing its challenge), or a
      // suspension since this request read the user active: no session. The source is trusted in the
      // session's transaction, and answers "new" once (a source the account never completed a login
      // from, nor unlocked, or whose trust lapsed).
      let newSource = false;
      const tokens = await sessions.issue(
        { userId: user.id, accountId: account.id, email: user.email, role: user.role },
        requestSource(c, config.TRUSTED_PROXY_HOPS),
        challenge.password,
        async (tx) => {
          newSource = await stepUp.trust(user.email, ip, tx);
        },
      );
      if (!tokens) throw invalidCode();
      // The owner still has the app (or its recovery codes): a pending mailed reset is not needed.
      if (recoveryCode !== undefined) await mfaResets.cancelOpen(user, 'recovery_code');
      else if (challenge.method === 'totp') await mfaResets.cancelOpen(user, 'app_login');
      // A login from a new source tells the owner, except the very first login after registration.
      if (newSource && !firstLogin)
        notify(
          newLoginMail(user.email, {
            at: deps.now(),
            address: ip,
            userAgent: c.req.header('user-agent'),
            resetLink: `${config.PUBLIC_URL}/reset-password`,
          }),
        );
      c.header('cache-control', 'no-store');
      return c.json(tokens, 200);
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/refresh',
      operationId: 'refreshTokens',
      tag: 'identity',
      auth: 'public',
      summary:
        'Rotate a refresh token: a new access token and refresh token (reusing an old one ends the session)',
      request: {
        body: {
          content: { 'application/json': { schema: RefreshBody, example: REFRESH_EXAMPLE } },
          required: true,
        },
      },
      responses: {
        200: {
          description: 'New tokens',
          sends: ['Cache-Control'],
          content: { 'application/json': { schema: TokenSchema, example: TOKENS_EXAMPLE } },
        },
      },
      errors: [401],
    }),
    async (c) => {
      c.header('cache-control', 'no-store');
      return c.json(
        await sessions.refresh(
          c.req.valid('json').refresh_token,
          requestSource(c, config.TRUSTED_PROXY_HOPS),
        ),
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/logout',
      operationId: 'logout',
      tag: 'identity',
      auth: 'optional',
      summary: 'End the session of the bearer token and/or of the refresh token',
      request: {
        body: {
          content: { 'application/json': { schema: LogoutBody, example: REFRESH_EXAMPLE } },
          required: false,
        },
      },
      responses: {
        200: {
          description: 'Logged out',
          sends: ['Cache-Control'],
          content: { 'application/json': { schema: ok, example: { success: true, message: 'Logged out' } } },
        },
      },
      errors: [],
    }),
    async (c) => {
      const body = c.req.header('content-type')?.includes('json') ? c.req.valid('json') : {};
      const token = bearerToken(c.req.header('authorization'));
      // With a refresh token, a bearer token that no longer verifies (expired, its session ended) is as if
      // not sent: the refresh token's session still ends.
      const sessionId = token
        ? await sessions.verify(token).then(
            (verified) => verified.sessionId,
            (err: unknown) => {
              if (body.refresh_token && err instanceof ApiError && err.code === 'unauthorized')
                return undefined;
              throw err;
            },
          )
        : undefined;
      if (!token && !body.refresh_token)
        throw new ApiError('bad_request', 'Send a bearer token or a refresh_token');
      await sessions.logout({ refreshToken: body.refresh_token, sessionId });
      c.header('cache-control', 'no-store');
      return c.json({ success: true as const, message: 'Logged out' }, 200);
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/mfa/totp/setup',
      operationId: 'setupTotp',
      tag: 'identity',
      auth: 'bearer',
      summary:
        'Start enrolling (or replacing) an authenticator app: an otpauth:// URI and its QR code (active after /activate). Needs a recent /reauthenticate',
      responses: {
        200: {
          description: 'Scan this, then activate with a first code',
          content: {
            'application/json': {
              schema: EnrollmentSchema,
              example: {
                success: true,
                otpauth_uri:
                  'otpauth://totp/BrokerX:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=BrokerX',
                secret: 'JBSWY3DPEHPK3PXP',
                qr_code:
                  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
                message:
                  'Scan the QR code with your authenticator app, then send its current code to /api/v1/auth/mfa/totp/activate',
              },
            },
          },
        },
      },
      errors: [403],
    }),
    async (c) => {
      const principal = c.get('principal');
      await stepUp.requireRecent(c.get('sessionId'));
      const user = await findUserById(db, principal.userId);
      if (!user) throw unauthorized();
      const secret = newTotpSecret();
      await setPendingTotpSecret(db, user.id, secret);
      const uri = otpauthUri(secret, user.email);
      return c.json(
        {
          success: true as const,
          otpauth_uri: uri,
          secret,
          qr_code: await toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 240 }),
          message:
            'Scan the QR code with your authenticator app, then send its current code to /api/v1/auth/mfa/totp/activate',
        },
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/mfa/totp/activate',
      operationId: 'activateTotp',
      tag: 'identity',
      auth: 'bearer',
      summary:
        'Finish enrollment with a first valid code from the app; from then on logins use the app. Answers the recovery codes, once. Needs a recent /reauthenticate',
      request: {
        body: {
          content: { 'application/json': { schema: ActivateBody, example: { code: '123456' } } },
          required: true,
        },
      },
      responses: {
        200: {
          description: 'Enrolled',
          content: {
            'application/json': {
              schema: ActivatedSchema,
              example: {
                success: true,
                message:
                  'Authenticator app enrolled. Keep the recovery codes somewhere safe: they are shown once.',
                recovery_codes: ['ABCDE-FGHIJ', 'KLMNO-PQRST', '23456-7ABCD'],
              },
            },
          },
        },
      },
      errors: [403, 409, 429],
    }),
    async (c) => {
      const principal = c.get('principal');
      const { code } = c.req.valid('json');
      await stepUp.requireRecent(c.get('sessionId'));
      const user = await findUserById(db, principal.userId);
      if (!user) throw unauthorized();
      if (!user.totpPendingSecret)
        throw new ApiError('conflict', 'Start enrollment first (POST /api/v1/auth/mfa/totp/setup)');
      const codeWasRight = await countMfaAttempt(user, address(c));
      const step = await matchAppCode(user.totpPendingSecret, code, deps.now());
      if (step === null)
        throw new ApiError('validation_failed', 'Validation failed', [
          'code: does not match the authenticator app',
        ]);
      await codeWasRight();
      const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
      const activated = await activateTotpSecret(db, {
        userId: user.id,
        pendingSecret: user.totpPendingSecret,
        step,
        recoveryCodeHashes: codes.map((rc) => recoveryCodeHash(user.id, rc)),
        now: deps.now(),
      });
      if (!activated) throw new ApiError('conflict', 'Enrollment changed meanwhile, start again');
      notify(
        mfaChangedMail(
          user.email,
          user.totpEnrolledAt
            ? 'a new authenticator app replaced the old one'
            : 'an authenticator app was enrolled',
        ),
      );
      await mfaResets.cancelOpen(user, 'mfa_changed');
      return c.json(
        {
          success: true as const,
          message: 'Authenticator app enrolled. Keep the recovery codes somewhere safe: they are shown once.',
          recovery_codes: codes,
        },
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'delete',
      path: '/api/v1/auth/mfa/totp',
      operationId: 'removeTotp',
      tag: 'identity',
      auth: 'bearer',
      summary:
        'Remove the authenticator app: logins go back to mailed codes, recovery codes stop working. Needs a recent /reauthenticate',
      responses: {
        200: {
          description: 'Removed',
          content: {
            'application/json': {
              schema: ok,
              example: { success: true, message: 'Authenticator app removed' },
            },
          },
        },
      },
      errors: [403, 409],
    }),
    async (c) => {
      const principal = c.get('principal');
      await stepUp.requireRecent(c.get('sessionId'));
      const user = await findUserById(db, principal.userId);
      if (!user) throw unauthorized();
      if (!user.totpEnrolledAt) throw new ApiError('conflict', 'No authenticator app is enrolled');
      await removeTotp(db, user.id, newTotpSecret());
      await mfaResets.cancelOpen(user, 'mfa_changed');
      notify(mfaChangedMail(user.email, 'the authenticator app was removed; login codes come by mail again'));
      return c.json({ success: true as const, message: 'Authenticator app removed' }, 200);
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/reauthenticate',
      operationId: 'reauthenticate',
      tag: 'identity',
      auth: 'bearer',
      summary:
        'Check the password and the second factor again (ASVS 5.0 7.5.1): for a few minutes this session may change its second factor. Without `code` (or `recovery_code`) a correct password answers 202 and asks for one (mailed now to an account without an app); then send the password with it',
      request: {
        body: {
          content: {
            'application/json': {
              schema: ReauthBody,
              example: { password: 'correct horse battery staple', code: '123456' },
            },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: 'Re-authenticated',
          content: {
            'application/json': {
              schema: ReauthenticatedSchema,
              example: { success: true, message: 'Re-authenticated', expires_in: 300 },
            },
          },
        },
        202: {
          description:
            'Password correct, second factor missing: send the password again with `code` (or `recovery_code`). For an account without an authenticator app the code was mailed now (valid `expires_in` seconds, for this session only)',
          content: {
            'application/json': {
              schema: ReauthCodeRequiredSchema,
              example: {
                success: true,
                second_factor_required: true,
                mfa_method: 'email',
                expires_in: 600,
                message: 'We mailed you a code: send it with your password',
              },
            },
          },
        },
      },
      errors: [422, 429],
    }),
    async (c) => {
      const principal = c.get('principal');
      const sessionId = c.get('sessionId');
      const { password, code, recovery_code: recoveryCode } = c.req.valid('json');
      const ip = address(c);
      await limiter.hit(limiter.buckets('reauth', { address: ip, account: principal.userId }));
      const user = await findUserById(db, principal.userId);
      if (!user || !(await verifyPassword(user.passwordHash, password)))
        throw new ApiError('unauthorized', 'The password is not correct');
      const method: MfaMethod = user.totpEnrolledAt ? 'totp' : 'email';

      if (code === undefined && recoveryCode === undefined) {
        if (method === 'email') {
          const mailed = await stepUp.newCode(sessionId, CHALLENGE_TTL_SECONDS);
          try {
            await mailer.send(reauthCodeMail(user.email, mailed, CHALLENGE_TTL_SECONDS / 60));
          } catch (err) {
            logger.error('mail delivery failed', { err });
            throw new ApiError(
              'service_unavailable',
              'The code could not be sent, try again shortly',
              undefined,
              {
                'retry-after': '5',
              },
            );
          }
        }
        return c.json(
          {
            success: true as const,
            second_factor_required: true as const,
            mfa_method: method,
            expires_in: CHALLENGE_TTL_SECONDS,
            message:
              method === 'email'
                ? 'We mailed you a code: send it with your password'
                : 'Send the code of your authenticator app (or a recovery code) with your password',
          },
          202,
        );
      }

      // Codes are guessed no faster here than at login: the MFA limits of this account apply.
      const codeWasRight = await countMfaAttempt(user, ip);
      if (recoveryCode !== undefined) {
        if (
          method !== 'totp' ||
          !(await consumeRecoveryCode(db, user.id, recoveryCodeHash(user.id, recoveryCode), deps.now()))
        )
          throw invalidCode();
        notify(
          mfaChangedMail(user.email, 'a recovery code was used to confirm a change (it no longer works)'),
        );
      } else if (method === 'totp') {
        const step = await matchAppCode(user.totpSecret, code ?? '', deps.now(), Number(user.totpLastStep));
        // Single use, like a login code (the compare-and-set also stops a concurrent replay).
        if (step === null || !(await consumeTotpStep(db, user.id, step))) throw invalidCode();
      } else if (!(await stepUp.spendCode(sessionId, code ?? ''))) throw invalidCode();
      await codeWasRight();
      await stepUp.markReauthenticated(sessionId);
      return c.json(
        { success: true as const, message: 'Re-authenticated', expires_in: stepUp.reauthTtlSeconds },
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/auth/unlock',
      operationId: 'unlockLogin',
      tag: 'identity',
      auth: 'public',
      summary:
        'With the token of the link mailed when many wrong passwords were tried: lets the device that posts it log in despite the per-account limit',
      request: {
        body: {
          content: {
            'application/json': { schema: UnlockBody, example: { token: 'Ul9kT2xQ8rV3mN6bC1xZ4wYs' } },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: 'This device may log in',
          content: {
            'application/json': {
              schema: ok,
              example: { success: true, message: 'You can log in from this device now' },
            },
          },
        },
      },
      errors: [429],
    }),
    async (c) => {
      const ip = address(c);
      await limiter.hit(limiter.buckets('unlock', { address: ip }));
      if (!(await stepUp.unlock(c.req.valid('json').token, ip)))
        throw new ApiError('validation_failed', 'Invalid or expired unlock link', [
          'token: is invalid, expired or already used',
        ]);
      return c.json({ success: true as const, message: 'You can log in from this device now' }, 200);
    },
  );

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/.well-known/jwks.json',
      operationId: 'getJwks',
      tag: 'identity',
      auth: 'public',
      summary: 'Public keys that verify BrokerX access tokens (current and recently retired)',
      responses: {
        200: {
          description: 'JWK set',
          sends: ['Cache-Control'],
          content: {
            'application/json': {
              schema: JwksSchema,
              example: {
                keys: [
                  {
                    kty: 'OKP',
                    crv: 'Ed25519',
                    x: 'zZRZPNv6acL3QUh2rWrkAb3Hxpx9o-n-Ii-ozw7XsTs',
                    kid: 'ODBlAHF_yN0UZc1YjsMtXfDT9UwwyoeFK_dFlALctaY',
                    alg: 'EdDSA',
                    use: 'sig',
                  },
                ],
              },
            },
          },
        },
      },
      errors: [],
    }),
    async (c) => {
      c.header('cache-control', 'public, max-age=300');
      return c.json({ keys: await keys.jwks() }, 200);
    },
  );

  return app;
}
