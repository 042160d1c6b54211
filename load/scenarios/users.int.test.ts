/**
 * The load tools can be run again: the setup every scenario and the simulator share (`sessions()`), three
 * times in a row against an api listening on a port (so it sees the generator's address) with its normal
 * abuse limits, no multiplier. 3 runs x 7 users are more sessions than the 20 registrations an address
 * may make in an hour, so a setup that registered fresh users would be refused on the third run. The
 * first run registers the users, the second logs them in (no kept tokens), the third reuses its kept
 * tokens; no request is refused and each user registered once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIL_SUBJECTS } from '../../api/auth/mails.js';
import { LIMITS } from '../../api/auth/rate-limit.js';
import { createTestApi, mailCount, testConfig, type TestApi } from '../../test/helpers.js';
import { userEmail } from '../k6/lib/profiles.js';
import type { Endpoints } from '../client.js';
import { sessions } from './users.js';

const USERS = 7;
const RUNS = 3;
const tag = randomBytes(3).toString('hex');
const prefix = `rerun${tag}`;
const dir = mkdtempSync(join(tmpdir(), 'brokerx-load-users-'));
const tokenFile = join(dir, 'sessions.json');
let api: TestApi;
let server: ServerType;
let ep: Endpoints;

beforeAll(async () => {
  // Rate-limit counters of its own (a Redis prefix under the run's), so other files do not spend them.
  api = await createTestApi({ REDIS_PREFIX: `${testConfig().REDIS_PREFIX}rerun${tag}:` });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: api.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  ep = {
    api: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    mailpit: testConfig().MAILPIT_URL,
  };
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

const emails = Array.from({ length: USERS }, (_, i) => userEmail(prefix, i));
/** Mails of one kind (MAIL_SUBJECTS) each user received. */
const mails = (kind: keyof typeof MAIL_SUBJECTS) =>
  Promise.all(emails.map((e) => mailCount(e, new RegExp(`^${MAIL_SUBJECTS[kind]}$`))));
const each = (n: number) => emails.map(() => n);

describe('load setup run again and again (load/scenarios/users.ts)', () => {
  it('registers only the missing users, logs the others in, and is never rate-limited', async () => {
    const config = api.deps.config;
    expect(config.AUTH_ADDRESS_LIMIT_MULTIPLIER).toBe(1);
    expect(USERS * RUNS).toBeGreaterThan(LIMITS.register.address.limit);

    const accounts: string[][] = [];
    const setup = () => sessions(ep, USERS, prefix, 'load-rerun-password', 60, tokenFile);

    // 1: nobody exists yet: each user registers, verifies its address and logs in.
    accounts.push((await setup()).map((s) => s.accountId));
    expect(await mails('verify')).toEqual(each(1));
    expect(await mails('loginCode')).toEqual(each(1));

    // 2: as k6 does (no kept tokens): every user logs in again, none registers.
    rmSync(tokenFile);
    accounts.push((await setup()).map((s) => s.accountId));
    expect(await mails('loginCode')).toEqual(each(2));

    // 3: the kept tokens are still valid: no login at all.
    accounts.push((await setup()).map((s) => s.accountId));
    expect(await mails('loginCode')).toEqual(each(2));
    // Registered once each: one verification mail, and no "already registered" notice ever.
    expect(await mails('verify')).toEqual(each(1));
    expect(await mails('existing')).toEqual(each(0));

    expect(accounts[1]).toEqual(accounts[0]);
    expect(accounts[2]).toEqual(accounts[0]);
    expect(new Set(accounts[0]).size).toBe(USERS);
    // sessions() throws on any 429; the api's own count agrees that nothing was refused.
    const requests = await api.deps.metrics.registry.getSingleMetric('http_requests_total')!.get();
    const refused = requests.values.filter((v) => String(v.labels.status) === '429');
    expect(refused).toEqual([]);
    expect(requests.values.some((v) => v.labels.route === '/api/v1/clients/register')).toBe(true);
  }, 120_000);
});
