/**
 * Resetting a lost authenticator app by mail, with a delay (ADR 0008):
 *
 * 1. request: someone who just passed the password step of a login (an open `totp` challenge) asks for a
 *    reset; the owner's mailbox gets a single-use confirmation link, valid MFA_RESET_LINK_TTL_SECONDS;
 * 2. confirm: the link (the mailbox) schedules the removal MFA_RESET_DELAY_SECONDS later and mails the
 *    owner when it will happen and how to stop it;
 * 3. cancel: the link's cancel form, a login with the app or a recovery code, a password change or reset,
 *    or a second-factor change from a session cancel every open reset and mail the owner;
 * 4. complete: the first password step after the delay removes the app (and its recovery codes), ends
 *    every session of the user (the lost phone may hold one), mails the owner, and that login continues
 *    with a mailed code.
 *
 * So taking over an account through this path needs the password, the mailbox and the owner's silence for
 * the whole delay.
 */
import type { Db } from '../../db/client.js';
import {
  cancelMfaResets,
  completeDueMfaReset,
  confirmMfaReset,
  findUserById,
  insertMfaReset,
  mfaResetOwner,
  type UserRow,
} from '../../db/queries/users.js';
import type { Config } from '../../lib/config.js';
import type { Mail } from '../../lib/mailer.js';
import { randomToken, tokenHash } from './crypto.js';
import type { Sessions } from './sessions.js';
import {
  mfaChangedMail,
  mfaResetCancelledMail,
  mfaResetRequestMail,
  mfaResetScheduledMail,
} from './mails.js';
import { newTotpSecret } from './totp.js';

export const MFA_RESET_LINK_TTL_SECONDS = 30 * 60;

/** Why open resets were cancelled (stored as cancel_reason, told to the owner). */
export const CANCEL_REASONS = {
  cancel_link: 'with the cancel link of the reset mail',
  app_login: 'because someone logged in with the authenticator app',
  recovery_code: 'because someone logged in with a recovery code',
  password_change: 'because the password was changed',
  password_reset: 'because the password was reset',
  mfa_changed: 'because the second factor was changed from a logged-in session',
} as const;
export type CancelReason = keyof typeof CANCEL_REASONS;

export interface MfaResetDeps {
  db: Db;
  config: Pick<Config, 'PUBLIC_URL' | 'MFA_RESET_DELAY_SECONDS'>;
  now: () => Date;
  sessions: Pick<Sessions, 'revokeUser'>;
  /** Sends a notice without awaiting it (mails.ts noticeSender). */
  notify: (mail: Mail) => void;
}

export class MfaResets {
  constructor(private readonly deps: MfaResetDeps) {}

  private link(token: string, cancel = false): string {
    return `${this.deps.config.PUBLIC_URL}/reset-authenticator?token=${token}${cancel ? '&cancel=1' : ''}`;
  }

  /** Mail the owner a confirmation link (the caller checked the password step). */
  async request(user: Pick<UserRow, 'id' | 'email'>): Promise<void> {
    const token = randomToken();
    const now = this.deps.now();
    await insertMfaReset(this.deps.db, {
      userId: user.id,
      tokenHash: tokenHash(token),
      requestedAt: now,
      linkExpiresAt: new Date(now.getTime() + MFA_RESET_LINK_TTL_SECONDS * 1000),
    });
    this.deps.notify(
      mfaResetRequestMail(user.email, {
        confirmLink: this.link(token),
        cancelLink: this.link(token, true),
        validMinutes: MFA_RESET_LINK_TTL_SECONDS / 60,
        delaySeconds: this.deps.config.MFA_RESET_DELAY_SECONDS,
      }),
    );
  }

  /** Confirm with the mailed token: when the app will go, or undefined (unknown, used, expired, cancelled). */
  async confirm(token: string): Promise<Date | undefined> {
    const confirmed = await confirmMfaReset(this.deps.db, {
      tokenHash: tokenHash(token),
      now: this.deps.now(),
      delaySeconds: this.deps.config.MFA_RESET_DELAY_SECONDS,
    });
    if (!confirmed) return undefined;
    const user = await findUserById(this.deps.db, confirmed.userId);
    if (user)
      this.deps.notify(mfaResetScheduledMail(user.email, confirmed.effectiveAt, this.link(token, true)));
    return confirmed.effectiveAt;
  }

  /** Cancel with a reset's token: false when the token is unknown or its reset was carried out. */
  async cancelByToken(token: string): Promise<boolean> {
    const userId = await mfaResetOwner(this.deps.db, tokenHash(token));
    if (!userId) return false;
    const user = await findUserById(this.deps.db, userId);
    if (user) await this.cancelOpen(user, 'cancel_link');
    return true;
  }

  /** Cancel every open reset of the user, and tell the owner when there was one. */
  async cancelOpen(user: Pick<UserRow, 'id' | 'email'>, reason: CancelReason): Promise<void> {
    const { cancelled } = await cancelMfaResets(this.deps.db, {
      userId: user.id,
      now: this.deps.now(),
      reason,
    });
    if (cancelled > 0) this.deps.notify(mfaResetCancelledMail(user.email, CANCEL_REASONS[reason]));
  }

  /**
   * At the password step of a login: carry out a reset whose delay has passed. Returns the user as it is
   * now (without the app when a reset was carried out).
   */
  async completeDue(user: UserRow): Promise<UserRow> {
    if (!user.totpEnrolledAt) return user;
    const confirmedAt = await completeDueMfaReset(this.deps.db, {
      userId: user.id,
      now: this.deps.now(),
      freshSecret: newTotpSecret(),
    });
    if (!confirmedAt) return user;
    await this.deps.sessions.revokeUser(user.id, 'mfa_reset');
    this.deps.notify(
      mfaChangedMail(
        user.email,
        `the authenticator app was removed by the reset confirmed on ${confirmedAt.toISOString()}; login codes come by mail again and every session was ended`,
      ),
    );
    return (await findUserById(this.deps.db, user.id)) ?? user;
  }
}
