/**
 * The mailer against SMTP servers on a local socket: one that accepts the connection and never greets
 * fails the send (a timeout), not holding it for minutes, and `idle()` stops waiting for that send after
 * the timeout it is given; a server's permanent refusal of a mail is told apart from a failure that
 * another attempt may not meet.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createMailer, mailRefused, type Mailer } from './mailer.js';

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** A TCP server on a free port; `onSocket` plays the SMTP server. */
async function server(onSocket: (socket: net.Socket) => void): Promise<number> {
  const srv = net.createServer(onSocket).listen(0, '127.0.0.1');
  await new Promise((resolve) => srv.once('listening', resolve));
  open.push({ close: () => srv.close() });
  return (srv.address() as net.AddressInfo).port;
}

function mailer(port: number): Mailer {
  const m = createMailer(`smtp://127.0.0.1:${port}`, 'brokerx@example.test');
  open.push(m);
  return m;
}

const mail = { to: 'ada@example.test', subject: 'fill', text: 'filled' };

/** An SMTP server that accepts everything except the recipient, which it answers with `rcptReply`. */
const refusingRecipient = (rcptReply: string) => (socket: net.Socket) => {
  socket.on('error', () => undefined);
  socket.write('220 test ESMTP\r\n');
  socket.on('data', (chunk) => {
    for (const line of chunk.toString().split('\r\n').filter(Boolean)) {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO' || verb === 'HELO') socket.write('250 test\r\n');
      else if (verb === 'MAIL') socket.write('250 ok\r\n');
      else if (verb === 'RCPT') socket.write(`${rcptReply}\r\n`);
      else if (verb === 'RSET') socket.write('250 ok\r\n');
      else if (verb === 'QUIT') socket.end('221 bye\r\n');
    }
  });
};

describe('createMailer', () => {
  it('fails a send to a server that never greets with a greeting timeout', { timeout: 20_000 }, async () => {
    const sockets: net.Socket[] = [];
    const port = await server((socket) => void sockets.push(socket));
    open.push({ close: () => sockets.forEach((s) => s.destroy()) });
    const err = (await mailer(port)
      .send(mail)
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; timeoutType?: string } | undefined;
    expect(err).toMatchObject({ code: 'ETIMEDOUT', timeoutType: 'GREETING_TIMEOUT' });
    expect(mailRefused(err)).toBe(false);
  });

  it('stops waiting for the sends in flight after the timeout idle() is given', async () => {
    const sockets: net.Socket[] = [];
    const port = await server((socket) => void sockets.push(socket));
    open.push({ close: () => sockets.forEach((s) => s.destroy()) });
    const m = mailer(port);
    expect(await m.idle(50)).toBe(true); // nothing handed to it yet
    let settled = false;
    void m.send(mail).then(
      () => (settled = true),
      () => (settled = true),
    );
    // The server never greets: the send waits for its greeting timeout (seconds), idle() returns first.
    expect(await m.idle(50)).toBe(false);
    expect(settled).toBe(false);
  });
});

describe('mailRefused', () => {
  it('is true for a permanent refusal of the recipient, false for a temporary one or no server', async () => {
    const failure = (m: Mailer) =>
      m.send(mail).then(
        () => undefined,
        (e: unknown) => e,
      );
    const permanent = await failure(mailer(await server(refusingRecipient('550 no such user'))));
    expect(permanent).toMatchObject({ code: 'EENVELOPE', responseCode: 550 });
    expect(mailRefused(permanent)).toBe(true);

    const temporary = await failure(mailer(await server(refusingRecipient('451 try again later'))));
    expect(temporary).toMatchObject({ code: 'EENVELOPE', responseCode: 451 });
    expect(mailRefused(temporary)).toBe(false);

    // Nothing listens on a port just closed: the connection is refused.
    const closed = await server(() => undefined);
    open.pop()!.close();
    const unreachable = await failure(mailer(closed));
    expect(unreachable).toMatchObject({ code: 'ESOCKET' });
    expect(mailRefused(unreachable)).toBe(false);
  });
});
