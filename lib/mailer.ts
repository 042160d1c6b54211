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
  /**
   * Resolves once every send handed to the mailer so far (and any handed to it meanwhile) has settled,
   * delivered or failed: true; or after `timeoutMs` with sends still on their way: false. A process awaits
   * it before `close()`, which fails the mails still queued: notices are sent without being awaited
   * (api/auth/mails.ts).
   */
  idle(timeoutMs?: number): Promise<boolean>;
  close(): void;
}

/**
 * How long a send waits for an SMTP server that does not answer (nodemailer's defaults are 2 minutes to
 * connect, 30 s for the greeting, 10 minutes of silence): the relay's batch and the requests that mail
 * (registration, login codes) wait on the send, so a hung server fails them in seconds instead.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 15_000 };

/**
 * How long `idle()` waits by default: as long as a send takes to fail against a server that does not
 * answer (to connect, then to be greeted), so a shutdown never hangs on a dead one.
 */
const IDLE_TIMEOUT_MS = SMTP_TIMEOUTS.connectionTimeout + SMTP_TIMEOUTS.greetingTimeout;

export function createMailer(smtpUrl: string, from: string): Mailer {
  // Pooled: a few SMTP connections reused across mails, instead of a connect and greeting per mail (the
  // relay sends a confirmation per fill).
  const transport: Transporter = createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: 4,
    ...SMTP_TIMEOUTS,
  });
  /** The sends not settled yet (`idle`). */
  const sending = new Set<Promise<void>>();
  return {
    send(mail) {
      countIo('mails');
      const sent = transport
        .sendMail({
          from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          ...(mail.messageId ? { messageId: `<${mail.messageId}@brokerx.local>` } : {}),
        })
        .then(() => undefined);
      const settled: Promise<void> = sent.catch(() => undefined).finally(() => sending.delete(settled));
      sending.add(settled);
      return sent;
    },
    idle(timeoutMs = IDLE_TIMEOUT_MS) {
      const settled = (async () => {
        while (sending.size > 0) await Promise.all(sending);
        return true;
      })();
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, timeoutMs, false)));
      return Promise.race([settled, expired]).finally(() => clearTimeout(timer));
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
