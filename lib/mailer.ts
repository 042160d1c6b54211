/** Outgoing mail over SMTP (Mailpit locally). One transport per process. */
import { createTransport, type Transporter } from 'nodemailer';
import { countIo } from './io-counts.js';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** Stable id: the relay passes the outbox event id so a retried send can be recognised. */
  messageId?: string;
}

export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): void;
}

export function createMailer(smtpUrl: string, from: string): Mailer {
  // Pooled: a few SMTP connections reused across mails, instead of a connect and greeting per mail (the
  // relay sends a confirmation per fill).
  const transport: Transporter = createTransport({ url: smtpUrl, pool: true, maxConnections: 4 });
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
