/**
 * The identity mails: verification link, "you already have an account", login code, password reset, the
 * authenticator reset, the notices of security changes (password, second factor), of a login from a new
 * source, and the login unlock link. Plain text.
 */
import type { Logger } from '../../lib/logger.js';
import type { Mail, Mailer } from '../../lib/mailer.js';
import { printable } from './client-address.js';

/**
 * Send a notice after the change it reports, without awaiting it: a mail failure is logged and never
 * undoes the change, and the answer's timing does not depend on the mail server.
 */
export const noticeSender =
  (mailer: Mailer, logger: Logger) =>
  (mail: Mail): void =>
    void mailer
      .send(mail)
      .catch((err: unknown) => logger.error('notice mail failed', { err, subject: mail.subject }));

export const MAIL_SUBJECTS = {
  verify: 'Verify your BrokerX email address',
  existing: 'Your BrokerX registration',
  loginCode: 'Your BrokerX login code',
  reauthCode: 'Your BrokerX confirmation code',
  passwordReset: 'Reset your BrokerX password',
  passwordChanged: 'Your BrokerX password was changed',
  mfaChanged: 'Your BrokerX second factor was changed',
  loginUnlock: 'Failed logins on your BrokerX account',
  newLogin: 'New login to your BrokerX account',
  mfaResetRequest: 'Reset the authenticator app of your BrokerX account',
  mfaResetScheduled: 'Your BrokerX authenticator app will be removed',
  mfaResetCancelled: 'The reset of your BrokerX authenticator app was cancelled',
} as const;

/**
 * "72 hours", "150 minutes", "5 seconds": how long a delay is, in hours when it is a whole number of them
 * (2 and more), else in whole minutes (2 and more, any seconds left dropped), else in seconds: never more
 * than it is (a link that the mail says lasts 3 hours must not expire at 2.5).
 */
export function durationText(seconds: number): string {
  const [n, unit] =
    seconds >= 2 * 3600 && seconds % 3600 === 0
      ? [seconds / 3600, 'hour']
      : seconds >= 120
        ? [Math.floor(seconds / 60), 'minute']
        : [Math.floor(seconds), 'second'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

const notice = (to: string, subject: string, lines: string[]): Mail => ({
  to,
  subject,
  text: [...lines, '', 'If this was not you, reset your password at once and contact support.'].join('\n'),
});

export function passwordResetMail(to: string, link: string, validMinutes: number): Mail {
  return {
    to,
    subject: MAIL_SUBJECTS.passwordReset,
    text: [
      'Someone (hopefully you) asked to reset your BrokerX password. Choose a new one here:',
      link,
      '',
      `The link works once and expires in ${validMinutes} minutes. Resetting ends every open session.`,
      'If you did not ask for this, ignore this mail: your password stays as it is.',
    ].join('\n'),
  };
}

export const passwordChangedMail = (to: string, how: 'changed' | 'reset') =>
  notice(to, MAIL_SUBJECTS.passwordChanged, [
    how === 'reset'
      ? 'Your BrokerX password was reset with a link mailed to this address. Every session was ended.'
      : 'Your BrokerX password was changed from a logged-in session. Your other sessions were ended.',
  ]);

export const mfaChangedMail = (to: string, what: string) =>
  notice(to, MAIL_SUBJECTS.mfaChanged, [`The second factor of your BrokerX account changed: ${what}.`]);

export function mfaResetRequestMail(
  to: string,
  p: { confirmLink: string; cancelLink: string; validMinutes: number; delaySeconds: number },
): Mail {
  return {
    to,
    subject: MAIL_SUBJECTS.mfaResetRequest,
    text: [
      'Someone who knows your BrokerX password asked to remove the authenticator app from your account,',
      'for example because the phone was lost. To go ahead, confirm here:',
      p.confirmLink,
      '',
      `The link works once and expires in ${p.validMinutes} minutes. After you confirm, the app is removed`,
      `${durationText(p.delaySeconds)} later; until then nothing changes, and the removal can still be stopped.`,
      '',
      'If this was not you: do not confirm. Whoever asked knows your password: log in with your app and',
      'change it now. You can also cancel the request here:',
      p.cancelLink,
    ].join('\n'),
  };
}

export const mfaResetScheduledMail = (to: string, effectiveAt: Date, cancelLink: string) =>
  notice(to, MAIL_SUBJECTS.mfaResetScheduled, [
    `The reset of your authenticator app was confirmed. On ${effectiveAt.toISOString()} the app and its`,
    'recovery codes stop working for your BrokerX account, and login codes come by mail instead.',
    '',
    'To stop it: log in with your authenticator app or a recovery code, change your password, or open',
    cancelLink,
  ]);

export const mfaResetCancelledMail = (to: string, why: string) =>
  notice(to, MAIL_SUBJECTS.mfaResetCancelled, [
    `The reset of your authenticator app was cancelled ${why}. Your app keeps working as before.`,
  ]);

/** What the owner is told of a login from a source (address) their account had not logged in from. */
export interface NewLogin {
  at: Date;
  address: string | undefined;
  userAgent: string | undefined;
  /** The trader's page where "Forgot password?" mails a reset link. */
  resetLink: string;
}

export const newLoginMail = (to: string, login: NewLogin): Mail => ({
  to,
  subject: MAIL_SUBJECTS.newLogin,
  text: [
    'Your BrokerX account was logged into (password and second factor) from a place it had not been',
    'used from before:',
    '',
    `  When:     ${login.at.toISOString()}`,
    `  Address:  ${login.address ?? 'unknown'}`,
    `  Device:   ${printable(login.userAgent) ?? 'unknown'}`,
    '',
    'If this was you, there is nothing to do.',
    '',
    'If it was not you, someone knows your password and could read your second factor: reset your',
    'password now ("Forgot password?" on this page), which ends every session, and check your',
    'authenticator app and your mailbox:',
    login.resetLink,
  ].join('\n'),
});

export function loginUnlockMail(to: string, link: string, validMinutes: number): Mail {
  return {
    to,
    subject: MAIL_SUBJECTS.loginUnlock,
    text: [
      'Many wrong passwords were tried on your BrokerX account, so logins from new places are slowed down.',
      'Your password was not accepted from them, and nothing was changed.',
      '',
      'To log in from this device right away, open this link on it and press its button:',
      link,
      '',
      `The link expires in ${validMinutes} minutes. Consider changing your password if it might be known.`,
    ].join('\n'),
  };
}

/** The verification link of a registration, valid for `validSeconds` (VERIFICATION_TOKEN_TTL_SECONDS). */
export function verificationMail(to: string, link: string, validSeconds: number): Mail {
  return {
    to,
    subject: MAIL_SUBJECTS.verify,
    text: [
      'Welcome to BrokerX.',
      '',
      'Confirm your email address to activate your account:',
      link,
      '',
      `The link can be used once and expires in ${durationText(validSeconds)}. If you did not register, ignore this mail.`,
    ].join('\n'),
  };
}

export function existingAccountMail(to: string, publicUrl: string): Mail {
  return {
    to,
    subject: MAIL_SUBJECTS.existing,
    text: [
      'Someone (hopefully you) tried to register a BrokerX account with this address.',
      '',
      `You already have an account: log in at ${publicUrl}. Nothing was changed.`,
      'If this was not you, you can ignore this mail.',
    ].join('\n'),
  };
}

/** The mailed second factor of a re-authentication (an account without an authenticator app). */
export function reauthCodeMail(to: string, code: string, validMinutes: number): Mail {
  return {
    to,
    subject: MAIL_SUBJECTS.reauthCode,
    text: [
      `Your BrokerX confirmation code: ${code}`,
      '',
      'A signed-in session of your account confirmed your password to change how you log in (enroll or',
      `remove an authenticator app). The code works once and expires in ${validMinutes} minutes. BrokerX never`,
      'asks for it by phone or mail. If this was not you, do not use it: change your password, which ends',
      'every other session.',
    ].join('\n'),
  };
}

export function loginCodeMail(to: string, code: string, validMinutes: number): Mail {
  return {
    to,
    subject: MAIL_SUBJECTS.loginCode,
    text: [
      `Your BrokerX login code: ${code}`,
      '',
      `It works once and expires in ${validMinutes} minutes. BrokerX never asks for it by phone or mail.`,
      'Enroll an authenticator app to receive codes there instead of by mail.',
    ].join('\n'),
  };
}
