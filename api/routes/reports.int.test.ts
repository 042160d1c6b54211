/**
 * Reports over REST (executions, statement) on real trades: the api, the trading worker, a matching
 * shard and the relay against the run's Temporal, Postgres and Redis (one isolated database for the file,
 * so both reports share one trading stack).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../../test/helpers.js';
import { startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';
import { exactNumber } from '../../lib/money.js';
import { expectProblem } from '../../test/http.js';

let fx: TradingFixture;
let api: TestApi;

beforeAll(async () => {
  fx = await startTradingFixture('reports');
  api = fx.api;
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

type Json = Record<string, unknown>;
type Execution = {
  execution_id: string;
  trade_id: string;
  order_id: string;
  symbol: string;
  direction: string;
  quantity: number;
  price: number;
  liquidity: string;
  fee: string;
  executed_at: string;
};
type Page = { success: boolean; executions: Execution[]; next_cursor: string | null };

async function place(token: string, order: Json): Promise<Json> {
  const res = await api.call('POST', '/api/v1/orders', {
    token,
    body: { order: { order_type: 'limit', time_in_force: 'GTC', ...order } },
  });
  const body = (await res.json()) as Json;
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

async function getJson<T>(token: string, path: string, status = 200): Promise<T> {
  const res = await api.call('GET', path, { token });
  const body = (await res.json()) as T;
  expect(res.status, JSON.stringify(body)).toBe(status);
  return body;
}

/** Every page of a listing, following next_cursor. */
async function allPages(
  token: string,
  path: string,
  limit: number,
): Promise<{ pages: number; executions: Execution[] }> {
  const executions: Execution[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: Page = await getJson<Page>(
      token,
      `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    expect(page.executions.length).toBeLessThanOrEqual(limit);
    executions.push(...page.executions);
    cursor = page.next_cursor;
    pages++;
  } while (cursor);
  return { pages, executions };
}

describe('executions', () => {
  let seller: FundedTestUser;
  let buyer: FundedTestUser;
  let sellOrder: Json;
  let msftSell: Json;
  const buys: Json[] = [];

  beforeAll(async () => {
    seller = await createFundedUser(api, '0.00', { AAPL: 20n, MSFT: 5n });
    buyer = await createFundedUser(api, '20000.00');
    sellOrder = await place(seller.token, {
      symbol: 'AAPL',
      direction: 'sell',
      quantity: 10,
      price: '190.00',
    });
    for (const quantity of [3, 3, 4])
      buys.push(await place(buyer.token, { symbol: 'AAPL', direction: 'buy', quantity, price: '191.00' }));
    msftSell = await place(seller.token, { symbol: 'MSFT', direction: 'sell', quantity: 5, price: '420.00' });
    buys.push(await place(buyer.token, { symbol: 'MSFT', direction: 'buy', quantity: 2, price: '420.00' }));
    for (const b of buys) expect(b.status).toBe('filled');
  });

  it('lists the caller’s fills newest first, with the REST vocabulary, liquidity and fee', async () => {
    const page = await getJson<Page>(buyer.token, '/api/v1/executions');
    expect(page.success).toBe(true);
    expect(page.next_cursor).toBeNull();
    expect(page.executions.map((e) => e.order_id)).toEqual(buys.map((b) => b.order_id).reverse());
    expect(page.executions[0]).toMatchObject({
      order_id: buys[3]!.order_id,
      symbol: 'MSFT',
      direction: 'buy',
      quantity: 2,
      price: 420,
      liquidity: 'taker',
      fee: '0.00',
    });
    expect(page.executions[3]).toMatchObject({ symbol: 'AAPL', quantity: 3, price: 190, liquidity: 'taker' });
    const times = page.executions.map((e) => Date.parse(e.executed_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(new Set(page.executions.map((e) => e.execution_id)).size).toBe(4);

    // The maker's side of the same trades: its own execution ids, the same trade ids.
    const maker = await getJson<Page>(seller.token, `/api/v1/executions?symbol=aapl`);
    expect(maker.executions.map((e) => [e.direction, e.liquidity, e.quantity, e.order_id])).toEqual([
      ['sell', 'maker', 4, sellOrder.order_id],
      ['sell', 'maker', 3, sellOrder.order_id],
      ['sell', 'maker', 3, sellOrder.order_id],
    ]);
    const buyerAapl = page.executions.filter((e) => e.symbol === 'AAPL');
    expect(maker.executions.map((e) => e.trade_id)).toEqual(buyerAapl.map((e) => e.trade_id));
    expect(maker.executions.map((e) => e.execution_id)).not.toContain(buyerAapl[0]!.execution_id);
  });

  it('pages over more than one page without gaps or repeats, and the ids are stable', async () => {
    const full = (await getJson<Page>(buyer.token, '/api/v1/executions')).executions;
    for (const limit of [1, 3]) {
      const { pages, executions } = await allPages(buyer.token, '/api/v1/executions', limit);
      expect(pages).toBeGreaterThan(1);
      expect(executions).toEqual(full);
    }
    const aapl = await allPages(seller.token, '/api/v1/executions?symbol=AAPL', 2);
    expect(aapl.pages).toBe(2);
    expect(aapl.executions).toHaveLength(3);
  });

  it('filters by symbol, order and period', async () => {
    const full = (await getJson<Page>(buyer.token, '/api/v1/executions')).executions;
    const msft = await getJson<Page>(buyer.token, '/api/v1/executions?symbol=MSFT');
    expect(msft.executions.map((e) => e.order_id)).toEqual([buys[3]!.order_id]);
    const one = await getJson<Page>(
      buyer.token,
      `/api/v1/executions?order_id=${buys[1]!.order_id as string}`,
    );
    expect(one.executions).toEqual([full[2]]);
    // from is inclusive, to exclusive.
    const middle = full[2]!.executed_at;
    const since = await getJson<Page>(buyer.token, `/api/v1/executions?from=${encodeURIComponent(middle)}`);
    expect(since.executions).toEqual(full.filter((e) => e.executed_at >= middle));
    expect(since.executions).toContainEqual(full[2]);
    const before = await getJson<Page>(buyer.token, `/api/v1/executions?to=${encodeURIComponent(middle)}`);
    expect(before.executions).toEqual(full.filter((e) => e.executed_at < middle));
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await getJson<Page>(buyer.token, `/api/v1/executions?from=${future}`)).executions).toEqual([]);
  });

  it('gives one order’s executions to its owner only', async () => {
    const own = await getJson<Page>(
      seller.token,
      `/api/v1/orders/${sellOrder.order_id as string}/executions`,
    );
    expect(own.executions.map((e) => e.quantity)).toEqual([4, 3, 3]);
    expect(own.executions.every((e) => e.order_id === sellOrder.order_id && e.liquidity === 'maker')).toBe(
      true,
    );
    const paged = await allPages(
      seller.token,
      `/api/v1/orders/${sellOrder.order_id as string}/executions`,
      1,
    );
    expect(paged.executions).toEqual(own.executions);
    expect(
      (await getJson<Page>(seller.token, `/api/v1/orders/${msftSell.order_id as string}/executions`))
        .executions,
    ).toHaveLength(1);

    const other = await getJson<Json>(
      buyer.token,
      `/api/v1/orders/${sellOrder.order_id as string}/executions`,
      403,
    );
    expect(other).toMatchObject({ code: 'forbidden' });
    expect(JSON.stringify(other)).not.toContain('maker');
    await getJson<Json>(buyer.token, `/api/v1/orders/00000000-0000-4000-8000-000000000000/executions`, 404);
  });

  it('never shows another account’s executions', async () => {
    const outsider = await createFundedUser(api, '0.00');
    expect((await getJson<Page>(outsider.token, '/api/v1/executions')).executions).toEqual([]);
    // Filtering by another account's order id finds nothing rather than its fills.
    const byOrder = await getJson<Page>(
      outsider.token,
      `/api/v1/executions?order_id=${sellOrder.order_id as string}`,
    );
    expect(byOrder.executions).toEqual([]);
    const buyerView = (await getJson<Page>(buyer.token, '/api/v1/executions')).executions;
    expect(buyerView.every((e) => e.direction === 'buy')).toBe(true);
  });
});

type Balance = { available: number; reserved: number; total: number };
type Line = {
  entry_id: string;
  kind: string;
  reference: string;
  posted_at: string;
  available_change: number;
  reserved_change: number;
  change: number;
  available: number;
  reserved: number;
  balance: number;
};
type Statement = {
  success: boolean;
  account_id: string;
  from: string;
  to: string;
  assets: { asset: string; opening: Balance; postings: Line[]; closing: Balance }[];
  next_cursor: string | null;
};

describe('statement', () => {
  /** A JSON amount back to exact units (cents for USD, shares otherwise): the text of a number is exact. */
  const units = (asset: string, v: number) => {
    const [whole, frac = ''] = String(v).split('.');
    const scale = asset === 'USD' ? 2 : 0;
    expect(frac.length).toBeLessThanOrEqual(scale);
    return BigInt(`${whole!.replace('-', '')}${frac.padEnd(scale, '0')}`) * (v < 0 ? -1n : 1n);
  };
  /** Opening + postings = closing for each bucket, each line's running balance the previous plus its change. */
  const reconcile = (s: Statement) => {
    for (const a of s.assets) {
      const u = (v: number) => units(a.asset, v);
      let available = u(a.opening.available);
      let reserved = u(a.opening.reserved);
      for (const l of a.postings) {
        available += u(l.available_change);
        reserved += u(l.reserved_change);
        expect(u(l.change)).toBe(u(l.available_change) + u(l.reserved_change));
        expect([u(l.available), u(l.reserved), u(l.balance)], `${a.asset} ${l.entry_id}`).toEqual([
          available,
          reserved,
          available + reserved,
        ]);
      }
      expect([u(a.closing.available), u(a.closing.reserved), u(a.closing.total)], a.asset).toEqual([
        available,
        reserved,
        available + reserved,
      ]);
    }
  };
  const statement = (token: string, from: string, to: string) =>
    getJson<Statement>(
      token,
      `/api/v1/statement?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
    );

  it('reconciles with the ledger to the cent after random deposits, orders, fills, cancels and withdrawals', async () => {
    // A seeded generator: a failure names its seed, which replays the same activity.
    const seed = Date.now() % 100_000;
    let state = seed;
    const rand = (n: number) => {
      state = (state * 48_271) % 2_147_483_647;
      return state % n;
    };
    const start = new Date(Date.now() - 60_000).toISOString();
    const maker = await createFundedUser(api, '0.00', { AAPL: 500n });
    for (const price of ['188.00', '189.50', '190.00', '191.25'])
      await place(maker.token, { symbol: 'AAPL', direction: 'sell', quantity: 40, price });
    const user = await createFundedUser(api, '5000.00');
    const resting: string[] = [];
    const act = async (kind: number) => {
      const cash = await fx.balance(user.accountId);
      const shares = await fx.balance(user.accountId, 'AAPL');
      if (kind === 0) {
        await deposit(user.token, BigInt(1 + rand(99_999)));
      } else if (kind === 1 && cash.available > 0n) {
        await withdraw(user.token, 1n + BigInt(rand(Number(cash.available))));
      } else if (kind === 2) {
        // A limit buy: below the asks it rests, at or above them it fills (at the maker's price).
        const price = `${185 + rand(7)}.${String(rand(100)).padStart(2, '0')}`;
        const quantity = 1 + rand(5);
        if (cash.available >= BigInt(quantity) * BigInt(price.replace('.', ''))) {
          const o = await place(user.token, { symbol: 'AAPL', direction: 'buy', quantity, price });
          if (o.status === 'working' || o.status === 'partially_filled') resting.push(o.order_id as string);
        }
      } else if (kind === 3 && shares.available > 0n) {
        // A sell above every bid rests, reserving shares.
        const o = await place(user.token, {
          symbol: 'AAPL',
          direction: 'sell',
          quantity: 1 + rand(exactNumber(shares.available)),
          price: `${200 + rand(10)}.00`,
        });
        resting.push(o.order_id as string);
      } else if (kind === 4 && resting.length > 0) {
        const [id] = resting.splice(rand(resting.length), 1);
        expect((await api.call('DELETE', `/api/v1/orders/${id!}`, { token: user.token })).status).toBe(200);
      }
    };
    // Every kind at least once (a fill with price improvement, a cancelled buy and a resting sell), then a random walk.
    expect(
      (await place(user.token, { symbol: 'AAPL', direction: 'buy', quantity: 2, price: '191.00' })).status,
    ).toBe('filled');
    const cancelled = await place(user.token, {
      symbol: 'AAPL',
      direction: 'buy',
      quantity: 3,
      price: '180.00',
    });
    expect(
      (await api.call('DELETE', `/api/v1/orders/${cancelled.order_id as string}`, { token: user.token }))
        .status,
    ).toBe(200);
    resting.push(
      (await place(user.token, { symbol: 'AAPL', direction: 'sell', quantity: 1, price: '205.00' }))
        .order_id as string,
    );
    for (const kind of [0, 1]) await act(kind);
    for (let i = 0; i < 14; i++) await act(rand(5));
    const end = new Date(Date.now() + 60_000).toISOString();

    const s = await statement(user.token, start, end);
    expect(s).toMatchObject({ success: true, account_id: user.accountId, from: start, to: end });
    reconcile(s);
    const usd = s.assets.find((a) => a.asset === 'USD')!;
    const aapl = s.assets.find((a) => a.asset === 'AAPL')!;
    expect(
      s.assets.map((a) => a.asset),
      `seed ${seed}`,
    ).toEqual(['USD', 'AAPL']);
    expect(usd.opening).toEqual({ available: 0, reserved: 0, total: 0 });
    expect(aapl.opening).toEqual({ available: 0, reserved: 0, total: 0 });
    const kinds = new Set(s.assets.flatMap((a) => a.postings.map((l) => l.kind)));
    expect([...kinds].sort(), `seed ${seed}`).toEqual([
      'deposit',
      'release',
      'reserve',
      'trade',
      'withdrawal',
    ]);
    // Each reserve and release names its order in the forms the statement documents (OpenAPI below): the
    // order id when placed, <order id>:close when the order ended.
    const forms = new Set(
      s.assets.flatMap((a) =>
        a.postings
          .filter((l) => l.kind === 'reserve' || l.kind === 'release')
          .map((l) => l.reference.replace(/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/, '<order id>')),
      ),
    );
    expect([...forms].sort(), `seed ${seed}`).toEqual(['<order id>', '<order id>:close']);
    // The closing is the ledger's balance, to the cent.
    for (const a of [usd, aapl]) {
      const ledger = await fx.balance(user.accountId, a.asset);
      expect(
        [units(a.asset, a.closing.available), units(a.asset, a.closing.reserved)],
        `seed ${seed} ${a.asset}`,
      ).toEqual([ledger.available, ledger.reserved]);
    }
    // Every line is one journal entry of this account, with the entry's own postings.
    const entries = await fx.database.sql<
      { id: string; kind: string; reference: string; asset: string; amount: string }[]
    >`
      SELECT je.id::text, je.kind, je.reference, p.asset, sum(p.amount)::text AS amount
        FROM postings p JOIN journal_entries je ON je.id = p.entry_id
       WHERE p.account_id = ${user.accountId} GROUP BY je.id, p.asset ORDER BY je.id, p.asset`;
    const lines = s.assets.flatMap((a) =>
      a.postings.map((l) => ({
        id: l.entry_id,
        kind: l.kind,
        reference: l.reference,
        asset: a.asset,
        amount: units(a.asset, l.change).toString(),
      })),
    );
    expect(
      lines.sort((x, y) => Number(BigInt(x.id) - BigInt(y.id)) || x.asset.localeCompare(y.asset)),
    ).toEqual(entries);

    // Any split of the period chains: the first part's closing is the second part's opening.
    const all = usd.postings;
    const middle = all[Math.floor(all.length / 2)]!.posted_at;
    const [before, after] = await Promise.all([
      statement(user.token, start, middle),
      statement(user.token, middle, end),
    ]);
    reconcile(before);
    reconcile(after);
    for (const asset of ['USD', 'AAPL']) {
      const b = before.assets.find((a) => a.asset === asset);
      const a = after.assets.find((x) => x.asset === asset)!;
      expect(b?.closing ?? { available: 0, reserved: 0, total: 0 }).toEqual(a.opening);
      expect([...(b?.postings ?? []), ...a.postings]).toEqual(
        s.assets.find((x) => x.asset === asset)!.postings,
      );
    }

    // CSV: the same statement, exact decimals.
    const res = await api.call(
      'GET',
      `/api/v1/statement?from=${encodeURIComponent(start)}&to=${encodeURIComponent(end)}`,
      { token: user.token, headers: { accept: 'text/csv' } },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toMatch(/attachment; filename="statement-.*\.csv"/);
    const rows = (await res.text())
      .trimEnd()
      .split('\r\n')
      .map((r) => r.split(','));
    expect(rows[0]).toEqual([
      'asset',
      'line',
      'posted_at',
      'entry_id',
      'kind',
      'reference',
      'available_change',
      'reserved_change',
      'change',
      'available',
      'reserved',
      'balance',
    ]);
    expect(rows).toHaveLength(1 + usd.postings.length + aapl.postings.length + 4);
    const closingUsd = rows.find((r) => r[0] === 'USD' && r[1] === 'closing')!;
    expect(closingUsd.slice(9).map((v) => BigInt(v.replace('.', '')))).toEqual([
      units('USD', usd.closing.available),
      units('USD', usd.closing.reserved),
      units('USD', usd.closing.total),
    ]);
    const firstPosting = rows.find((r) => r[1] === 'posting')!;
    expect(firstPosting.slice(0, 6)).toEqual([
      'USD',
      'posting',
      usd.postings[0]!.posted_at,
      usd.postings[0]!.entry_id,
      'deposit',
      usd.postings[0]!.reference,
    ]);
    expect(firstPosting[8]).toBe('5000.00');
  });

  describe('in pages', () => {
    const ZERO = { available: 0, reserved: 0, total: 0 };
    let user: FundedTestUser;
    let start: string;
    let end: string;
    let full: Statement;

    beforeAll(async () => {
      // Cash held before the period (a non-zero opening), then single-asset lines (deposits, a resting
      // sell's reserve) and two-asset ones (each fill moves USD and AAPL in one journal entry).
      user = await createFundedUser(api, '3000.00', { AAPL: 10n });
      await new Promise((r) => setTimeout(r, 5));
      start = new Date().toISOString();
      const seller = await createFundedUser(api, '0.00', { AAPL: 10n });
      await place(seller.token, { symbol: 'AAPL', direction: 'sell', quantity: 4, price: '190.00' });
      for (const cents of [101n, 202n, 303n]) await deposit(user.token, cents);
      for (const quantity of [1, 3])
        await place(user.token, { symbol: 'AAPL', direction: 'buy', quantity, price: '190.00' });
      await place(user.token, { symbol: 'AAPL', direction: 'sell', quantity: 2, price: '220.00' });
      await withdraw(user.token, 55n);
      end = new Date(Date.now() + 60_000).toISOString();
      full = await statement(user.token, start, end);
    });

    const path = (token: string, query: string) => getJson<Statement>(token, `/api/v1/statement?${query}`);
    const period = () => `from=${encodeURIComponent(start)}&to=${encodeURIComponent(end)}`;
    /** Every page, following next_cursor (the period only on the first request). */
    async function pages(limit: number): Promise<Statement[]> {
      const out: Statement[] = [await path(user.token, `${period()}&limit=${limit}`)];
      while (out[out.length - 1]!.next_cursor)
        out.push(await path(user.token, `limit=${limit}&cursor=${out[out.length - 1]!.next_cursor!}`));
      return out;
    }
    const lineCount = (s: Statement) => s.assets.reduce((n, a) => n + a.postings.length, 0);
    const balanceOf = (s: Statement, asset: string, which: 'opening' | 'closing') =>
      s.assets.find((a) => a.asset === asset)?.[which] ?? ZERO;

    it('answers at most limit lines and a next_cursor; the cursors give every line once, in order', async () => {
      reconcile(full);
      expect(full.next_cursor).toBeNull();
      const total = lineCount(full);
      expect(total).toBeGreaterThan(10);
      expect(balanceOf(full, 'USD', 'opening').total).toBe(3000);
      expect(balanceOf(full, 'AAPL', 'opening').total).toBe(10);
      const order = (s: Statement) =>
        s.assets
          .flatMap((a) => a.postings.map((l) => ({ ...l, asset: a.asset })))
          .sort(
            (x, y) =>
              x.posted_at.localeCompare(y.posted_at) ||
              Number(BigInt(x.entry_id) - BigInt(y.entry_id)) ||
              (x.asset < y.asset ? -1 : 1),
          );
      for (const limit of [1, 2, 3, 7]) {
        const all = await pages(limit);
        expect(all).toHaveLength(Math.ceil(total / limit));
        for (const [i, page] of all.entries()) {
          expect(page).toMatchObject({ success: true, account_id: user.accountId, from: start, to: end });
          expect(lineCount(page), `limit ${limit} page ${i}`).toBe(Math.min(limit, total - i * limit));
          expect(page.next_cursor === null).toBe(i === all.length - 1);
          // Each page reconciles on its own, and opens where the one before closed.
          reconcile(page);
          if (i > 0)
            for (const asset of ['USD', 'AAPL'])
              expect(balanceOf(page, asset, 'opening')).toEqual(balanceOf(all[i - 1]!, asset, 'closing'));
        }
        // Every line exactly once, in (posted_at, entry, asset) order, with the same running balances;
        // the first page's opening and the last page's closing are the period's.
        expect(all.flatMap(order)).toEqual(order(full));
        for (const asset of ['USD', 'AAPL']) {
          expect(all.flatMap((p) => p.assets.find((a) => a.asset === asset)?.postings ?? [])).toEqual(
            full.assets.find((a) => a.asset === asset)!.postings,
          );
          expect(balanceOf(all[0]!, asset, 'opening')).toEqual(balanceOf(full, asset, 'opening'));
          expect(balanceOf(all[all.length - 1]!, asset, 'closing')).toEqual(
            balanceOf(full, asset, 'closing'),
          );
        }
      }
    });

    it('pages the CSV through the Link header, each page a whole file', async () => {
      const rows: string[][] = [];
      let next: string | null = `/api/v1/statement?${period()}&limit=4`;
      let count = 0;
      while (next) {
        const res = await api.call('GET', next, { token: user.token, headers: { accept: 'text/csv' } });
        expect(res.status).toBe(200);
        const page = (await res.text())
          .trimEnd()
          .split('\r\n')
          .map((r) => r.split(','));
        expect(page[0]![0]).toBe('asset');
        rows.push(...page.slice(1).filter((r) => r[1] === 'posting'));
        expect(page.filter((r) => r[1] === 'posting').length).toBeLessThanOrEqual(4);
        const link = res.headers.get('link');
        // The opening is dated `from` on the first page only, the closing `to` on the last page only.
        const dates = (line: string) => [...new Set(page.filter((r) => r[1] === line).map((r) => r[2]!))];
        expect(dates('opening')).toEqual([count === 0 ? full.from : '']);
        expect(dates('closing')).toEqual([link ? '' : full.to]);
        next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1]! : null;
        count++;
      }
      expect(count).toBe(Math.ceil(lineCount(full) / 4));
      expect(rows.map((r) => `${r[0]!}/${r[3]!}`).sort()).toEqual(
        full.assets.flatMap((a) => a.postings.map((l) => `${a.asset}/${l.entry_id}`)).sort(),
      );
    });

    it('refuses a cursor it did not hand to this account, or for another period: 422 problem+json', async () => {
      const first = await path(user.token, `${period()}&limit=2`);
      const cursor = first.next_cursor!;
      const bad = async (token: string, query: string, error: string) => {
        const p = await expectProblem(
          await api.call('GET', `/api/v1/statement?${query}`, { token }),
          422,
          'validation_failed',
        );
        expect(p.errors!.join(' ')).toContain(error);
      };
      await bad(user.token, 'cursor=garbage', 'cursor: is invalid');
      // Its balances changed (a richer page), its signature kept.
      const text = Buffer.from(cursor, 'base64url').toString();
      const forged = Buffer.from(text.replace(/USD:(\d+)/, 'USD:9$1')).toString('base64url');
      expect(forged).not.toBe(cursor);
      await bad(user.token, `cursor=${forged}`, 'cursor: is invalid');
      const other = await createFundedUser(api, '0.00');
      await bad(other.token, `cursor=${cursor}`, 'cursor: is invalid');
      await bad(
        user.token,
        `from=${encodeURIComponent(end)}&cursor=${cursor}`,
        'cursor: belongs to another period',
      );
      // The same period sent again, as the executions pages are followed, is the same page.
      const again = await path(user.token, `${period()}&limit=2&cursor=${cursor}`);
      expect(again).toEqual(await path(user.token, `limit=2&cursor=${cursor}`));
    });
  });

  it('is the caller’s own: another account sees only its own cash', async () => {
    const a = await createFundedUser(api, '12.34');
    const b = await createFundedUser(api, '0.00');
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const mine = await statement(b.token, from, to);
    expect(mine.account_id).toBe(b.accountId);
    expect(mine.assets).toEqual([
      {
        asset: 'USD',
        opening: { available: 0, reserved: 0, total: 0 },
        postings: [],
        closing: { available: 0, reserved: 0, total: 0 },
      },
    ]);
    expect((await statement(a.token, from, to)).assets[0]!.closing.total).toBe(12.34);
  });

  it('covers the last 30 days without a period (bad periods: reports.test.ts)', async () => {
    const u = await createFundedUser(api, '0.00');
    // Without a period: the last 30 days up to now.
    const s = await getJson<Statement>(u.token, '/api/v1/statement');
    expect(Date.parse(s.to) - Date.parse(s.from)).toBe(30 * 86_400_000);
  });
});

async function transfer(path: string, token: string, cents: bigint): Promise<void> {
  const amount = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
  const res = await api.call('POST', path, {
    token,
    body: { amount, currency: 'USD' },
    headers: { 'idempotency-key': crypto.randomUUID() },
  });
  expect(res.status, await res.clone().text()).toBe(201);
}
const deposit = (token: string, cents: bigint) => transfer('/api/v1/deposits', token, cents);
const withdraw = (token: string, cents: bigint) => transfer('/api/v1/withdrawals', token, cents);

describe('OpenAPI', () => {
  it('documents the report routes with their errors and the statement’s CSV', async () => {
    type Op = { responses: Record<string, { content?: Record<string, unknown> }> };
    type Schema = { description?: string; properties?: Record<string, Schema>; items?: Schema };
    const doc = (await (await api.call('GET', '/openapi.json')).json()) as {
      paths: Record<string, { get?: Op }>;
      components: { schemas: Record<string, Schema> };
    };
    const statuses = (path: string) => Object.keys(doc.paths[path]?.get?.responses ?? {}).sort();
    expect(statuses('/api/v1/executions')).toEqual(['200', '400', '401', '422', '500', '503']);
    expect(statuses('/api/v1/orders/{id}/executions')).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '422',
      '500',
      '503',
    ]);
    expect(statuses('/api/v1/statement')).toEqual(['200', '400', '401', '422', '500', '503']);
    expect(Object.keys(doc.paths['/api/v1/statement']!.get!.responses['200']!.content!).sort()).toEqual([
      'application/json',
      'text/csv',
    ]);
    // Paged as the executions are: limit (default and cap), cursor, next_cursor and the Link header.
    type Param = { name: string; schema?: { default?: number; maximum?: number } };
    const get = doc.paths['/api/v1/statement']!.get! as Op & {
      parameters: Param[];
      responses: Record<string, { headers?: Record<string, unknown> }>;
    };
    expect(get.parameters.find((p) => p.name === 'limit')?.schema).toMatchObject({
      default: 500,
      maximum: 2000,
    });
    expect(get.parameters.map((p) => p.name)).toContain('cursor');
    expect(Object.keys(get.responses['200']!.headers ?? {})).toContain('Link');
    expect(Object.keys(doc.components.schemas.Statement?.properties ?? {})).toContain('next_cursor');
    // A line's reference in every form the ledger writes (db/queries/statement.ts StatementLine).
    const line = doc.components.schemas.Statement?.properties?.assets?.items?.properties?.postings?.items;
    const reference = line?.properties?.reference?.description ?? '';
    for (const form of ['order id', '<order id>:v<n>', '<order id>:close', '<order id>:compensation'])
      expect(reference).toContain(form);
  });
});
