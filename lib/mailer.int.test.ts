/**
 * The api's graceful shutdown (api/main.ts, SIGTERM) sends the mails its requests handed to the mailer
 * without awaiting them (the notices, api/auth/mails.ts) before it closes the mailer: a real api process
 * whose SMTP server (Mailpit, behind a proxy that holds its replies) is slow when the signal arrives.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort, portOpen, startProcess, waitForPort, type Managed } from '../devstack/processes.js';
import { MAIL_SUBJECTS } from '../api/auth/mails.js';
import { mailCount, uniqueEmail } from '../test/helpers.js';
import { eventually } from '../test/eventually.js';
import { TEST_PASSWORD, verificationToken } from '../test/users.js';

const testEnv = inject('env');
const tag = `mailer_${randomBytes(3).toString('hex')}`;
const procs: Managed[] = [];
const servers: net.Server[] = [];

afterAll(async () => {
  await Promise.allSettled(procs.map((p) => p.stop('SIGKILL', 1000)));
  for (const s of servers) s.close();
});

/**
 * A TCP proxy to the SMTP server `smtpUrl`: while held, the server's replies wait in the proxy (on open
 * connections and new ones), as from a slow server; released, they flow again.
 */
async function smtpProxy(smtpUrl: string) {
  const target = new URL(smtpUrl);
  const replies: net.Socket[] = [];
  let held = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) s.on('error', () => undefined);
    client.pipe(upstream);
    upstream.pipe(client);
    if (held) upstream.pause();
    replies.push(upstream);
    client.on('close', () => upstream.destroy());
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `smtp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    hold() {
      held = true;
      for (const r of replies) r.pause();
    },
    release() {
      held = false;
      for (const r of replies) r.resume();
    },
  };
}

describe("the api's graceful shutdown", () => {
  it('delivers the notices handed to the mailer before SIGTERM', { timeout: 120_000 }, async () => {
    const smtp = await smtpProxy(testEnv.SMTP_URL!);
    const [port, metricsPort] = await Promise.all([freePort(), freePort()]);
    const api = startProcess('api-mailer', process.execPath, ['--import', 'tsx', 'api/main.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...testEnv,
        // Its own rate-limit counters: the notices below come from 127.0.0.1, as other tests' requests.
        REDIS_PREFIX: `${testEnv.REDIS_PREFIX}${tag}:`,
        SMTP_URL: smtp.url,
        HOST: '127.0.0.1',
        PORT: String(port),
        API_METRICS_PORT: String(metricsPort),
        INSTANCE_ID: tag,
      },
    });
    procs.push(api);
    // Its metrics port opens last, in the tick that installs the SIGTERM handler (api/main.ts).
    await waitForPort(metricsPort, 'api', 90_000, api);
    const base = `http://127.0.0.1:${port}/api/v1`;
    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const email = uniqueEmail('shutdown');
    const client = { email, password: TEST_PASSWORD, first_name: 'Test', last_name: 'User' };
    expect((await post('/clients/register', { client })).status).toBe(201);
    const token = await verificationToken(email);
    expect((await fetch(`${base}/clients/verify?token=${token}`)).status).toBe(200);

    // Five reset mails (notices, not awaited) on a slow server: four take the pool's four connections,
    // the fifth waits in its queue.
    smtp.hold();
    for (let i = 0; i < 5; i++) expect((await post('/auth/password/forgot', { email })).status).toBe(202);
    process.kill(api.child.pid!, 'SIGTERM');
    // Past its listeners' close, where the mailer's turn comes: the server answers again.
    await eventually(async () => expect(await portOpen(metricsPort)).toBe(false), 15_000);
    smtp.release();
    expect(await api.exited).toBe(0);
    expect(await mailCount(email, new RegExp(MAIL_SUBJECTS.passwordReset))).toBe(5);
  });
});
