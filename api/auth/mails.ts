/** The identity mails: verification link, "you already have an account", login code. Plain text. */
import type { Mail } from '../../lib/mailer.js';

export const MAIL_SUBJECTS = {
  verify: 'Verify your BrokerX email address',
  existing: 'Your BrokerX registration',
  loginCode: 'Your BrokerX login code',
} as const;

export function verificationMail(to: string, link: string, validHours: number): Mail {
  return {
    to,
    subject: MAIL_SUBJECTS.verify,
    text: [
      'Welcome to BrokerX.',
      '',
      'Confirm your email address to activate your account:',
      link,
      '',
      `The link can be used once and expires in ${validHours} hours. If you did not register, ignore this mail.`,
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
