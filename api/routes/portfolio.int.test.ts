import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CASH_ASSET } from '../../db/accounts.js';
import { postEntry } from '../../db/queries/ledger.js';
import { createTestApi, type TestApi } from '../../test/helpers.js';
import { createFundedUser, registerVerifiedUser } from '../../test/users.js';

type Portfolio = {
  success: boolean;
  account_id: string;
  currency: string;
  available_balance: number;
  reserved_balance: number;
  total_balance: number;
  balances_decimal: { available: string; reserved: string; total: string };
  positions: { symbol: string; quantity: number; available: number; reserved: number }[];
};

describe('GET /api/v1/portfolio', () => {
  let api: TestApi;
  beforeAll(async () => (api = await createTestApi()));
  afterAll(() => api.close());

  const get = async (token: string) => {
    const res = await api.call('GET', '/api/v1/portfolio', { token });
    expect(res.status).toBe(200);
    return (await res.json()) as Portfolio;
  };

  it('shows an empty account right after verification', async () => {
    const user = await registerVerifiedUser(api);
    expect(await get(user.token)).toEqual({
      success: true,
      account_id: user.accountId,
      account_status: 'active',
      currency: 'USD',
      available_balance: 0,
      reserved_balance: 0,
      total_balance: 0,
      balances_decimal: { available: '0.00', reserved: '0.00', total: '0.00' },
      positions: [],
    });
  });

  it('shows cash and positions, with reserved cash and shares apart', async () => {
    const user = await createFundedUser(api, '1234.56', { AAPL: 10n, MSFT: 3n });
    await api.deps.database.db.transaction((tx) =>
      postEntry(tx, {
        kind: 'reserve',
        reference: `test-${randomUUID()}`,
        postings: [
          { accountId: user.accountId, asset: CASH_ASSET, bucket: 'available', amount: -23456n },
          { accountId: user.accountId, asset: CASH_ASSET, bucket: 'reserved', amount: 23456n },
          { accountId: user.accountId, asset: 'AAPL', bucket: 'available', amount: -4n },
          { accountId: user.accountId, asset: 'AAPL', bucket: 'reserved', amount: 4n },
        ],
      }),
    );
    const p = await get(user.token);
    expect(p).toMatchObject({
      account_id: user.accountId,
      available_balance: 1000,
      reserved_balance: 234.56,
      total_balance: 1234.56,
    });
    expect(p.balances_decimal).toEqual({ available: '1000.00', reserved: '234.56', total: '1234.56' });
    expect(p.positions).toEqual([
      { symbol: 'AAPL', quantity: 10, available: 6, reserved: 4 },
      { symbol: 'MSFT', quantity: 3, available: 3, reserved: 0 },
    ]);
  });

  it('reads the caller’s account from the token only', async () => {
    const a = await createFundedUser(api, '10.00');
    const b = await createFundedUser(api, '20.00');
    const res = await api.call('GET', `/api/v1/portfolio?account_id=${b.accountId}`, { token: a.token });
    expect(((await res.json()) as Portfolio).account_id).toBe(a.accountId);
    expect((await get(b.token)).total_balance).toBe(20);
  });

  it('needs a valid access token', async () => {
    for (const token of [undefined, 'garbage']) {
      const res = await api.call('GET', '/api/v1/portfolio', { token });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });
});
