import { randomUUID } from 'node:crypto';
import { and, eq, sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CASH_ASSET } from '../../db/accounts.js';
import { claimIdempotencyKey } from '../../db/queries/idempotency.js';
import { balancesOf, ledgerImbalances, postEntry } from '../../db/queries/ledger.js';
import { cashTransfers, idempotencyKeys } from '../../db/schema.js';
import { findUserById } from '../../db/queries/users.js';
import { passwordFingerprint } from '../auth/challenges.js';
import { createOperator } from '../auth/operators.js';
import { authServices } from '../auth/services.js';
import { createTestApi, uniqueEmail, type TestApi } from '../../test/helpers.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import {
  TEST_PASSWORD,
  createFundedUser,
  loginWithEmailCode,
  registerVerifiedUser,
  type TestUser,
} from '../../test/users.js';

type Json = Record<string, unknown>;

async function problemOf(res: Response, status: number, code: string): Promise<Json> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = (await res.json()) as Json;
  expect(body).toMatchObject({ success: false, status, code });
  return body;
}

describe('deposits and withdrawals', () => {
  let api: TestApi;
  let offsetMs = 0;
  const db = () => api.deps.database.db;

  const post = (
    user: TestUser,
    path: 'deposits' | 'withdrawals',
    body: unknown,
    key: string | null = randomUUID(),
  ) =>
    api.call('POST', `/api/v1/${path}`, {
      token: user.token,
      body,
      headers: key === null ? {} : { 'idempotency-key': key },
    });
  const cash = async (accountId: string) =>
    (await balancesOf(db(), accountId)).find((b) => b.asset === CASH_ASSET) ?? {
      available: 0n,
      reserved: 0n,
    };
  const transfers = async (accountId: string) =>
    db().select().from(cashTransfers).where(eq(cashTransfers.accountId, accountId));
  const entriesFor = async (accountId: string) =>
    Number(
      (
        await db().execute<{ n: string }>(sql`
          SELECT count(DISTINCT e.id) AS n FROM journal_entries e JOIN postings p ON p.entry_id = e.id
           WHERE p.account_id = ${accountId}::uuid AND e.kind IN ('deposit', 'withdrawal')`)
      )[0]?.n,
    );

  beforeAll(async () => (api = await createTestApi({}, () => new Date(Date.now() + offsetMs))));
  afterAll(() => api.close());

  it('deposits as one balanced ledger entry and answers 201 settled with the balance after', async () => {
    const user = await registerVerifiedUser(api);
    const res = await post(user, 'deposits', { amount: '100.50', currency: 'USD' });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({
      success: true,
      status: 'settled',
      balance_after: 100.5,
      amount: 100.5,
      currency: 'USD',
      type: 'deposit',
    });
    expect(body.transaction_id).toMatch(/^[0-9a-f-]{36}$/);
    const second = (await (await post(user, 'deposits', { amount: 0.25, currency: 'USD' })).json()) as Json;
    expect(second.balance_after).toBe(100.75);
    expect(second.balance_after_decimal).toBe('100.75');
    expect(await cash(user.accountId)).toMatchObject({ available: 10075n, reserved: 0n });
    expect(await entriesFor(user.accountId)).toBe(2);
    expect(await ledgerImbalances(db())).toEqual([]);

    const list = await api.call('GET', '/api/v1/deposits', { token: user.token });
    expect(list.status).toBe(200);
    const { deposits } = (await list.json()) as { deposits: Json[] };
    expect(deposits.map((d) => d.amount)).toEqual([0.25, 100.5]);
    expect(deposits[1]).toMatchObject({
      transaction_id: body.transaction_id,
      status: 'settled',
      currency: 'USD',
    });
  });

  it('lists only the 20 latest, and only the caller’s', async () => {
    const user = await registerVerifiedUser(api);
    const other = await createFundedUser(api, '5.00');
    for (let i = 1; i <= 22; i++)
      expect((await post(user, 'deposits', { amount: i, currency: 'USD' })).status).toBe(201);
    const { deposits } = (await (
      await api.call('GET', '/api/v1/deposits', { token: user.token })
    ).json()) as { deposits: Json[] };
    expect(deposits).toHaveLength(20);
    expect(deposits[0]!.amount).toBe(22);
    const mine = (await (await api.call('GET', '/api/v1/deposits', { token: other.token })).json()) as {
      deposits: Json[];
    };
    expect(mine.deposits.map((d) => d.amount)).toEqual([5]);
  });

  it('withdraws from available cash and refuses more with 422 "Insufficient funds", changing nothing', async () => {
    const user = await createFundedUser(api, '100.00');
    const ok = await post(user, 'withdrawals', { amount: '40.00', currency: 'USD' });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({
      success: true,
      status: 'settled',
      type: 'withdrawal',
      balance_after: 60,
    });
    const entries = await entriesFor(user.accountId);

    const key = randomUUID();
    const body = await problemOf(
      await post(user, 'withdrawals', { amount: '60.01', currency: 'USD' }, key),
      422,
      'validation_failed',
    );
    expect(body.errors).toContain('Insufficient funds');
    expect(await cash(user.accountId)).toMatchObject({ available: 6000n });
    expect(await entriesFor(user.accountId)).toBe(entries);
    // The failed request released its key: after a deposit the same key works.
    expect((await post(user, 'deposits', { amount: '10.00' })).status).toBe(201);
    expect((await post(user, 'withdrawals', { amount: '60.01', currency: 'USD' }, key)).status).toBe(201);

    const { withdrawals } = (await (
      await api.call('GET', '/api/v1/withdrawals', { token: user.token })
    ).json()) as { withdrawals: Json[] };
    expect(withdrawals.map((w) => w.amount)).toEqual([60.01, 40]);
  });

  it('counts only available cash: reserved cash cannot be withdrawn', async () => {
    const user = await createFundedUser(api, '100.00');
    await db().transaction((tx) =>
      postEntry(tx, {
        kind: 'reserve',
        reference: `test-${randomUUID()}`,
        postings: [
          { accountId: user.accountId, asset: CASH_ASSET, bucket: 'available', amount: -7000n },
          { accountId: user.accountId, asset: CASH_ASSET, bucket: 'reserved', amount: 7000n },
        ],
      }),
    );
    await problemOf(await post(user, 'withdrawals', { amount: '30.01' }), 422, 'validation_failed');
    expect((await post(user, 'withdrawals', { amount: '30.00' })).status).toBe(201);
    expect(await cash(user.accountId)).toMatchObject({ available: 0n, reserved: 7000n });
  });

  describe('Idempotency-Key', () => {
    it('replays the first response for the same key and body: 200, same body, no new entry', async () => {
      const user = await registerVerifiedUser(api);
      const key = randomUUID();
      const first = await post(user, 'deposits', { amount: '25.00', currency: 'USD' }, key);
      expect(first.status).toBe(201);
      const firstBody = await first.json();
      for (const amount of ['25.00', 25, '25']) {
        const again = await post(user, 'deposits', { amount, currency: 'USD' }, key);
        expect(again.status).toBe(200);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
        expect(await again.json()).toEqual(firstBody);
      }
      expect(await entriesFor(user.accountId)).toBe(1);
      expect(await cash(user.accountId)).toMatchObject({ available: 2500n });
    });

    it('refuses the same key with another body, or on the other route: 422 idempotency_mismatch', async () => {
      const user = await createFundedUser(api, '100.00');
      const key = randomUUID();
      expect((await post(user, 'deposits', { amount: '10.00' }, key)).status).toBe(201);
      await problemOf(await post(user, 'deposits', { amount: '10.01' }, key), 422, 'idempotency_mismatch');
      await problemOf(await post(user, 'withdrawals', { amount: '10.00' }, key), 422, 'idempotency_mismatch');
      expect(await cash(user.accountId)).toMatchObject({ available: 11000n });
    });

    it('scopes keys to the account: another account may use the same key', async () => {
      const a = await registerVerifiedUser(api);
      const b = await registerVerifiedUser(api);
      const key = randomUUID();
      expect((await post(a, 'deposits', { amount: '1.00' }, key)).status).toBe(201);
      expect((await post(b, 'deposits', { amount: '2.00' }, key)).status).toBe(201);
      expect(await cash(b.accountId)).toMatchObject({ available: 200n });
    });

    it('answers 409 while a request with the key is in flight, and takes over an abandoned claim', async () => {
      const user = await registerVerifiedUser(api);
      const key = randomUUID();
      const requestHash = (await import('node:crypto'))
        .createHash('sha256')
        .update('deposit|500|USD')
        .digest('hex');
      const claim = await claimIdempotencyKey(db(), {
        accountId: user.accountId,
        key,
        scope: 'deposit',
        requestHash,
        now: new Date(),
        ttlSeconds: 86400,
      });
      expect(claim.kind).toBe('claimed');
      const res = await post(user, 'deposits', { amount: '5.00' }, key);
      await problemOf(res, 409, 'idempotency_in_progress');
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await entriesFor(user.accountId)).toBe(0);

      offsetMs = 61_000; // the in-flight claim's lease ran out: it never committed, so it is taken over
      try {
        expect((await post(user, 'deposits', { amount: '5.00' }, key)).status).toBe(201);
      } finally {
        offsetMs = 0;
      }
      expect(await entriesFor(user.accountId)).toBe(1);
    });

    it('forgets keys after 24 hours', async () => {
      const user = await registerVerifiedUser(api);
      const key = randomUUID();
      expect((await post(user, 'deposits', { amount: '1.00' }, key)).status).toBe(201);
      // Access tokens live 15 minutes: issue one valid at the moved clock.
      const { passwordHash } = (await findUserById(api.deps.database.db, user.userId))!;
      const later = async () => ({
        ...user,
        token: (await authServices(api.deps).sessions.issue(
          { ...user, role: 'client' },
          { ip: null, userAgent: null },
          passwordFingerprint(passwordHash),
        ))!.token,
      });
      offsetMs = 23 * 3600_000;
      try {
        await problemOf(
          await post(await later(), 'deposits', { amount: '2.00' }, key),
          422,
          'idempotency_mismatch',
        );
        offsetMs = 24 * 3600_000 + 60_000;
        expect((await post(await later(), 'deposits', { amount: '2.00' }, key)).status).toBe(201);
      } finally {
        offsetMs = 0;
      }
      const [row] = await db()
        .select()
        .from(idempotencyKeys)
        .where(and(eq(idempotencyKeys.accountId, user.accountId), eq(idempotencyKeys.key, key)));
      expect(row!.responseBody).toMatchObject({ amount: 2 });
      expect(await cash(user.accountId)).toMatchObject({ available: 300n });
    });

    it('documents the header as required in the OpenAPI document', async () => {
      const doc = (await (await api.call('GET', '/openapi.json')).json()) as {
        paths: Record<string, Record<string, { parameters?: Json[] }>>;
      };
      for (const path of ['/api/v1/deposits', '/api/v1/withdrawals']) {
        expect(doc.paths[path]?.post?.parameters).toContainEqual(
          expect.objectContaining({ name: 'idempotency-key', in: 'header', required: true }),
        );
      }
    });

    it('creates exactly one ledger entry for 100 concurrent deposits with the same key', async () => {
      const user = await registerVerifiedUser(api);
      const key = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 100 }, () => post(user, 'deposits', { amount: '7.77', currency: 'USD' }, key)),
      );
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.every((s) => s === 201 || s === 200 || s === 409)).toBe(true);
      const ids = new Set<unknown>();
      for (const r of results) if (r.status !== 409) ids.add(((await r.json()) as Json).transaction_id);
      expect(ids.size).toBe(1);
      expect(await entriesFor(user.accountId)).toBe(1);
      expect(await transfers(user.accountId)).toHaveLength(1);
      expect(await cash(user.accountId)).toMatchObject({ available: 777n });
    });
  });

  it('keeps the ledger balanced and never negative under 100 concurrent distinct deposits and withdrawals', async () => {
    const user = await createFundedUser(api, '300.00');
    const ops = Array.from({ length: 100 }, (_, i) =>
      i % 2 === 0
        ? { path: 'deposits' as const, cents: 1000n }
        : { path: 'withdrawals' as const, cents: 2500n },
    );
    const results = await Promise.all(
      ops.map((op) => post(user, op.path, { amount: (Number(op.cents) / 100).toFixed(2), currency: 'USD' })),
    );
    let expected = 30000n;
    results.forEach((r, i) => {
      const op = ops[i]!;
      if (r.status === 201) expected += op.path === 'deposits' ? op.cents : -op.cents;
      else {
        expect(op.path).toBe('withdrawals');
        expect(r.status).toBe(422);
      }
    });
    expect(results.filter((r) => r.status === 201).length).toBeGreaterThan(50);
    const balance = await cash(user.accountId);
    expect(balance.available).toBe(expected);
    expect(balance.available).toBeGreaterThanOrEqual(0n);
    expect(await transfers(user.accountId)).toHaveLength(results.filter((r) => r.status === 201).length + 1);
    expect(await ledgerImbalances(db())).toEqual([]);
    const negatives = await db().execute(
      sql`SELECT 1 FROM balances WHERE NOT allow_negative AND (available < 0 OR reserved < 0)`,
    );
    expect(negatives).toHaveLength(0);
  });

  // Bad bodies, headers and tokens (a clear 4xx before anything moves) are covered without I/O in funding.test.ts.

  it('accepts exactly the maximum', async () => {
    const user = await createFundedUser(api, '50.00');
    expect((await post(user, 'deposits', { amount: '1000000.00', currency: 'USD' })).status).toBe(201);
    expect((await post(user, 'withdrawals', { amount: 1000000, currency: 'usd' })).status).toBe(201);
  });
});

/**
 * A freeze (ADR 0022) against transfers in flight: funding holds the account's control lock shared and
 * reads its status after, so a transfer commits before the freeze answers, or is refused 403 after it.
 */
describe('deposits and withdrawals against a freeze of the account', () => {
  let fx: TradingFixture;
  let operatorToken: string;

  beforeAll(async () => {
    fx = await startTradingFixture('funding');
    const email = uniqueEmail('ops');
    expect((await createOperator(fx.database.db, { email, password: TEST_PASSWORD }, new Date())).ok).toBe(
      true,
    );
    operatorToken = (await loginWithEmailCode(fx.api, email)).token;
  }, 180_000);
  afterAll(async () => {
    if (!fx) return;
    expect(await fx.imbalances()).toEqual([]);
    await fx.close();
  });

  const transfer = (user: TestUser, path: 'deposits' | 'withdrawals', amount: string, key = randomUUID()) =>
    fx.api.call('POST', `/api/v1/${path}`, {
      token: user.token,
      body: { amount },
      headers: { 'idempotency-key': key },
    });
  const control = (kind: 'freeze' | 'unfreeze', accountId: string) =>
    fx.api.call('POST', `/api/v1/admin/accounts/${accountId}/${kind}`, {
      token: operatorToken,
      body: { reason: 'fraud check' },
    });
  /** A request in flight, and whether it has answered yet. */
  const inFlight = (request: Promise<Response>) => {
    const flight = { answered: false, response: request.finally(() => (flight.answered = true)) };
    return flight;
  };
  /** Sessions of the fixture's database waiting for a row lock, or for a control lock. */
  const waiters = async (on: 'row' | 'control') =>
    (
      await fx.database.db.execute<{ n: number }>(sql`
        SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'
           AND ${on === 'control' ? sql`query LIKE '%brokerx:control:%'` : sql`wait_event <> 'advisory'`}`)
    )[0]?.n ?? 0;
  /** Run `lock` (row locks) in a transaction of the test's own that stays open until `release`. */
  async function holding(lock: SQL) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let taken!: () => void;
    const isTaken = new Promise<void>((resolve) => (taken = resolve));
    const done = fx.database.db.transaction(async (tx) => {
      await tx.execute(lock);
      taken();
      await released;
    });
    await Promise.race([isTaken, done]);
    return {
      release: async () => {
        release();
        await done;
      },
    };
  }
  const status = async (accountId: string) =>
    (
      await fx.database.db.execute<{ status: string }>(
        sql`SELECT status FROM accounts WHERE id = ${accountId}::uuid`,
      )
    )[0]?.status;

  it('a withdrawal in flight when the operator freezes settles before the freeze answers', async () => {
    const user = await createFundedUser(fx.api, '1000.00');
    // The withdrawal has read the account active and waits for its balance row.
    const row = await holding(
      sql`SELECT 1 FROM balances WHERE account_id = ${user.accountId}::uuid AND asset = 'USD' FOR UPDATE`,
    );
    const withdrawal = inFlight(transfer(user, 'withdrawals', '900.00'));
    await eventually(async () => expect(await waiters('row')).toBe(1));
    const freeze = inFlight(control('freeze', user.accountId));
    // The freeze waits for the withdrawal (its control lock): it cannot answer while the row is held.
    await eventually(async () => expect(freeze.answered || (await waiters('control')) === 1).toBe(true));
    const answeredBeforeTheWithdrawal = freeze.answered;
    await row.release();
    const [w, f] = [await withdrawal.response, await freeze.response];
    expect(f.status, await f.text()).toBe(200);
    expect(answeredBeforeTheWithdrawal).toBe(false);
    expect(w.status).toBe(201);
    expect(await status(user.accountId)).toBe('frozen');
    expect(await fx.balance(user.accountId)).toEqual({ available: 10_000n, reserved: 0n });
    expect((await transfer(user, 'withdrawals', '10.00')).status).toBe(403);
  });

  it('a deposit arriving while a freeze is in flight waits for it and is refused 403; its key is released', async () => {
    const user = await createFundedUser(fx.api, '100.00');
    // The freeze holds the account's control lock and waits for the accounts row (its status update).
    const row = await holding(
      sql`SELECT 1 FROM accounts WHERE id = ${user.accountId}::uuid FOR NO KEY UPDATE`,
    );
    const freeze = inFlight(control('freeze', user.accountId));
    await eventually(async () => expect(await waiters('row')).toBe(1));
    const key = randomUUID();
    const deposit = inFlight(transfer(user, 'deposits', '50.00', key));
    // The deposit waits for the freeze's control lock, then reads the status the freeze committed.
    await eventually(async () => expect(deposit.answered || (await waiters('control')) === 1).toBe(true));
    await row.release();
    const [f, d] = [await freeze.response, await deposit.response];
    expect(f.status, await f.text()).toBe(200);
    expect(d.status, await d.text()).toBe(403);
    expect(await fx.balance(user.accountId)).toEqual({ available: 10_000n, reserved: 0n });

    // The refusal changed nothing and released its key: once unfrozen, the same request goes through once.
    expect((await control('unfreeze', user.accountId)).status).toBe(200);
    expect((await transfer(user, 'deposits', '50.00', key)).status).toBe(201);
    const again = await transfer(user, 'deposits', '50.00', key);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await fx.balance(user.accountId)).toEqual({ available: 15_000n, reserved: 0n });
  });
});
