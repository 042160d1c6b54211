/** Outgoing mail over SMTP (Mailpit locally). One transport per process. */
import { createTransport, type Transporter } from 'nodemailer';
import { countIo } from './io-counts.js';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** Stable id, so a retried send can be recognised: the relay passes `fill-<fill id>-<order id>`. */
  messageId?: string;
}

export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): void;
}

/**
 * How long a send waits for an SMTP server that does not answer (nodemailer's defaults are 2 minutes to
 * connect, 30 s for the greeting, 10 minutes of silence): the relay's batch and the requests that mail
 * (registration, login codes) wait on the send, so a hung server fails them in seconds instead.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 15_000 };

export function createMailer(smtpUrl: string, from: string): Mailer {
  // Pooled: a few SMTP connections reused across mails, instead of a connect and greeting per mail (the
  // relay sends a confirmation per fill).
  const transport: Transporter = createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: 4,
    ...SMTP_TIMEOUTS,
  });
  return {
    async send(mail) {
      countIo('mails');
      await transport.sendMail({
        from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        ...(mail.messageId ? { messageId: `<${mail.messageId}@brokerx.local>` } : {}),
      });
    },
    close: () => transport.close(),
  };
}

/**
 * Whether `send` failed because the server refused this mail for good (a permanent reply to its sender,
 * recipients or content, RFC 5321's 5xx) or it could not be addressed at all: sending it again fails again.
 * A server that cannot be reached, does not answer, refuses the login or answers "try later" is not that.
 */
export function mailRefused(err: unknown): boolean {
  // nodemailer's error: its code, and `permanent` from the reply's class when the server replied.
  const e = err as { code?: unknown; permanent?: boolean } | undefined;
  return (e?.code === 'EENVELOPE' || e?.code === 'EMESSAGE') && e.permanent !== false;
}
