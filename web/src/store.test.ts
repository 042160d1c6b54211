/**
 * The trader's data (web/src/store.ts) against a scripted api: reloads that overlap (a deposit's, the
 * feed's) leave the page with the newest answer, whichever arrives last.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Api, Order, Portfolio } from './api.js';
import { Session } from './session.js';
import { Trading } from './store.js';

const portfolio = (reserved: string): Portfolio => ({
  account_id: 'a',
  balances_decimal: { available: '815.00', reserved, total: '1000.00' },
  positions: [],
});
const working = { id: 'o1', client_order_id: 'web-1', status: 'working' } as Order;

/** An api whose GETs answer when the test says, each with what the test gives. */
function scriptedApi() {
  const pending: { path: string; answer: (body: unknown) => void }[] = [];
  const get = (path: string) => new Promise((answer) => pending.push({ path, answer }));
  /** Answer the reload that sent requests `from` .. `from + 2` (portfolio, open orders, history). */
  const answerReload = (from: number, reserved: string, open: Order[]) => {
    const [p, o, h] = pending.slice(from, from + 3);
    p!.answer(portfolio(reserved));
    o!.answer({ orders: open });
    h!.answer({ orders: open });
  };
  return { api: { get } as unknown as Api, pending, answerReload };
}

beforeEach(() => vi.stubGlobal('location', { protocol: 'http:', host: 'page' }));
afterEach(() => vi.unstubAllGlobals());

describe('Trading: overlapping reloads', () => {
  it('a reload that answers after a newer one does not put its older state back', async () => {
    const { api, pending, answerReload } = scriptedApi();
    const store = new Trading(api, new Session(), { temporalUi: '', temporalNamespace: 'default' });
    // The order placed: a reload starts, slow to answer; the order cancelled: another one, quicker.
    const older = store.reload();
    const newer = store.reload();
    expect(pending).toHaveLength(6);
    expect(pending[0]!.path).toBe('/api/v1/portfolio');
    answerReload(3, '0.00', []);
    await newer;
    answerReload(0, '185.00', [working]);
    await older;
    expect(store.portfolio?.balances_decimal.reserved).toBe('0.00');
    expect(store.openOrders).toEqual([]);
    expect(store.history).toEqual([]);
    expect(store.loadError).toBeUndefined();
  });
});
