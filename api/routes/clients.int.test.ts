import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accounts, balances, users, verificationTokens } from '../../db/schema.js';
import { createTestApi, mailCount, uniqueEmail, waitForMail, type TestApi } from '../../test/helpers.js';
import { clientBody } from '../../test/registration.js';
import { verificationToken } from '../../test/users.js';

type Json = Record<string, unknown>;

const client = (over: Json = {}) => clientBody(uniqueEmail('reg'), over);

async function problemOf(res: Response, status: number, code: string): Promise<Json> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = (await res.json()) as Json;
  expect(body).toMatchObject({ success: false, status, code });
  expect(typeof body.detail).toBe('string');
  expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/); // no stack traces
  return body;
}

describe('registration and email verification', () => {
  let api: TestApi;
  let offsetMs = 0;
  // Users registered by this file (other files register their own users at the same time).
  const userCount = async () =>
    Number(
      (
        await api.deps.database.db.execute<{ n: string }>(
          sql`SELECT count(*) AS n FROM users WHERE email LIKE 'reg-%'`,
        )
      )[0]?.n,
    );

  beforeAll(async () => (api = await createTestApi({}, () => new Date(Date.now() + offsetMs))));
  afterAll(() => api.close());

  it('registers a pending user with an Argon2id hash and mails a single-use link that activates the account', async () => {
    const c = client();
    const res = await api.call('POST', '/api/v1/clients/register', { body: { client: c } });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({ success: true, status: 'pending_verification' });
    expect(JSON.stringify(body)).not.toContain(c.email);

    const db = api.deps.database.db;
    const [user] = await db.select().from(users).where(eq(users.email, c.email));
    expect(user).toMatchObject({
      status: 'pending',
      firstName: 'Ada',
      lastName: 'Lovelace',
      dateOfBirth: '1990-12-10',
    });
    // Argon2id, 19 MiB, 2 passes, never the password itself.
    expect(user!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(user!.passwordHash).not.toContain(c.password);

    const token = await verificationToken(c.email);
    const stored = await db.select().from(verificationTokens).where(eq(verificationTokens.userId, user!.id));
    expect(stored).toHaveLength(1);
    expect(stored[0]!.tokenHash).not.toBe(token); // stored hashed
    expect(stored[0]!.expiresAt.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);

    const verified = await api.call('GET', `/api/v1/clients/verify?token=${token}`);
    expect(verified.status).toBe(200);
    const vbody = (await verified.json()) as Json;
    expect(vbody).toMatchObject({ success: true, status: 'active' });
    const [after] = await db.select().from(users).where(eq(users.id, user!.id));
    expect(after!.status).toBe('active');
    expect(after!.verifiedAt).not.toBeNull();
    const [account] = await db.select().from(accounts).where(eq(accounts.userId, user!.id));
    expect(account).toMatchObject({
      id: vbody.account_id,
      kind: 'client',
      status: 'active',
      currency: 'USD',
    });
    const cash = await db.select().from(balances).where(eq(balances.accountId, account!.id));
    expect(cash).toEqual([expect.objectContaining({ asset: 'USD', available: 0n, reserved: 0n })]);

    // Reusing the link: 422, nothing changes.
    await problemOf(await api.call('GET', `/api/v1/clients/verify?token=${token}`), 422, 'validation_failed');
    expect(await db.select().from(accounts).where(eq(accounts.userId, user!.id))).toHaveLength(1);
  });

  it("states the link's lifetime (VERIFICATION_TOKEN_TTL_SECONDS) in the verification mail", async () => {
    const c = client();
    expect((await api.call('POST', '/api/v1/clients/register', { body: { client: c } })).status).toBe(201);
    expect((await waitForMail(c.email, { subject: /verify/i })).text).toContain('expires in 24 hours.');

    const short = await createTestApi({ VERIFICATION_TOKEN_TTL_SECONDS: '1800' });
    try {
      const s = client();
      const res = await short.call('POST', '/api/v1/clients/register', { body: { client: s } });
      expect(res.status).toBe(201);
      expect((await waitForMail(s.email, { subject: /verify/i })).text).toContain('expires in 30 minutes.');
    } finally {
      await short.close();
    }
  });

  it('refuses unknown, malformed, missing and expired verification tokens with 422', async () => {
    await problemOf(
      await api.call('GET', `/api/v1/clients/verify?token=${'A'.repeat(43)}`),
      422,
      'validation_failed',
    );
    await problemOf(await api.call('GET', '/api/v1/clients/verify?token=short'), 422, 'validation_failed');
    await problemOf(
      await api.call('GET', "/api/v1/clients/verify?token=x'%20OR%201=1--aaaaaaaaaaaaaaaaaaaa"),
      422,
      'validation_failed',
    );
    await problemOf(await api.call('GET', '/api/v1/clients/verify'), 422, 'validation_failed');

    const c = client();
    expect((await api.call('POST', '/api/v1/clients/register', { body: { client: c } })).status).toBe(201);
    const token = await verificationToken(c.email);
    offsetMs = 25 * 3600_000; // the link lives 24 h
    try {
      await problemOf(
        await api.call('GET', `/api/v1/clients/verify?token=${token}`),
        422,
        'validation_failed',
      );
    } finally {
      offsetMs = 0;
    }
    const [user] = await api.deps.database.db.select().from(users).where(eq(users.email, c.email));
    expect(user!.status).toBe('pending');
  });

  it('answers a known address exactly like a new one, and mails the owner instead of creating anything', async () => {
    const c = client();
    const first = await api.call('POST', '/api/v1/clients/register', { body: { client: c } });
    const token = await verificationToken(c.email);
    expect((await api.call('GET', `/api/v1/clients/verify?token=${token}`)).status).toBe(200);
    const before = await userCount();

    const again = await api.call('POST', '/api/v1/clients/register', {
      body: {
        client: {
          ...c,
          email: c.email.toUpperCase(),
          password: 'another-password-99',
          first_name: 'Mallory',
        },
      },
    });
    expect(again.status).toBe(first.status);
    expect(await again.json()).toEqual(await first.json());
    expect(await userCount()).toBe(before);
    const mail = await waitForMail(c.email, { subject: /registration/i });
    expect(mail.text).toMatch(/already have an account/i);
    const [user] = await api.deps.database.db.select().from(users).where(eq(users.email, c.email));
    expect(user!.firstName).toBe('Ada'); // nothing changed
  });

  it('sends a pending user a fresh verification link when the address registers again', async () => {
    const c = client();
    await api.call('POST', '/api/v1/clients/register', { body: { client: c } });
    await verificationToken(c.email);
    const res = await api.call('POST', '/api/v1/clients/register', { body: { client: c } });
    expect(res.status).toBe(201);
    await api.mailsSent();
    expect(await mailCount(c.email, /verify/i)).toBe(2);
    expect((await api.deps.database.db.select().from(users).where(eq(users.email, c.email))).length).toBe(1);
  });

  it('registers concurrently with one address once', async () => {
    const c = client();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => api.call('POST', '/api/v1/clients/register', { body: { client: c } })),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect((await api.deps.database.db.select().from(users).where(eq(users.email, c.email))).length).toBe(1);
  });

  // Bad input (a clear 4xx before anything is created) is covered without I/O in clients.test.ts.

  describe('abuse limits', () => {
    it('limits registrations per address: 429 with Retry-After', async () => {
      const proxied = await createTestApi({ TRUSTED_PROXY_HOPS: '1' });
      try {
        const ip = '198.51.100.7';
        const statuses: number[] = [];
        for (let i = 0; i < 21; i++) {
          const res = await proxied.call('POST', '/api/v1/clients/register', {
            body: { client: client() },
            headers: { 'x-forwarded-for': `203.0.113.9, ${ip}` },
          });
          statuses.push(res.status);
          if (res.status === 429) {
            expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
            await problemOf(res, 429, 'too_many_requests');
          }
        }
        expect(statuses.slice(0, 20).every((s) => s === 201)).toBe(true);
        expect(statuses[20]).toBe(429);
        // Another address is not affected; the spoofable left-most entry is not what counts.
        const other = await proxied.call('POST', '/api/v1/clients/register', {
          body: { client: client() },
          headers: { 'x-forwarded-for': `${ip}, 192.0.2.77` },
        });
        expect(other.status).toBe(201);
      } finally {
        await proxied.close();
      }
    });

    it('limits registrations per email address (mail bombing)', async () => {
      const c = client();
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++)
        statuses.push((await api.call('POST', '/api/v1/clients/register', { body: { client: c } })).status);
      expect(statuses).toEqual([201, 201, 201, 201, 201, 429]);
    });
  });
});
