/**
 * Stop orders against `nodejs-order-book`, on the streams where both engines define the same result.
 * The library differs from ours (and from the reference model) elsewhere, so each stream ends at the
 * first operation outside that common ground:
 * - it refuses a stop whose condition already holds (ours triggers it): such stops are not generated;
 * - it triggers only the stops on the taker's side, and before the taker's remainder rests: takers are
 *   IOC or market orders (nothing rests), and a stream ends when ours triggers an opposite-side stop;
 * - it runs several triggered stops highest buy stop first and depth first: a stream ends when ours
 *   triggers more than one stop in one operation;
 * - an IOC taker that triggers a stop keeps its remainder on its book when the stop trades (the stop's
 *   execution overwrites the taker's leaves in their shared response): a stream ends there;
 * - it cannot cancel a pending stop: only resting orders are cancelled.
 * Both books start with the same trade at 100 (the library's last price starts at 0).
 */
import fc from 'fast-check';
import { OrderBook as Lob, Side as LobSide, type LimitOrderOptions } from 'nodejs-order-book';
import { describe, expect, it } from 'vitest';
import { OrderBook, type NewOrder } from './index.js';

/** Prices as distances: makers rest 1-5 ticks from 100 on their side, stops 1-4 ticks beyond the last price. */
const away = fc.integer({ min: 1, max: 5 });
const op = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      buy: fc.boolean(),
      away,
      qty: fc.integer({ min: 1, max: 9 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('take' as const),
      buy: fc.boolean(),
      market: fc.boolean(),
      away,
      qty: fc.integer({ min: 1, max: 15 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('stop' as const),
      buy: fc.boolean(),
      limit: fc.boolean(),
      away: fc.integer({ min: 1, max: 4 }),
      /** The stop-limit's limit beyond its stop price by this much (the library requires it). */
      beyond: fc.integer({ min: 0, max: 3 }),
      qty: fc.integer({ min: 1, max: 9 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
);

type Levels = { price: number; orders: [string, number][] }[];

/** Both books' resting orders and pending stop ids, in one shape. */
function ours(book: OrderBook): { bids: Levels; asks: Levels; stops: string[] } {
  const levels = (side: 'buy' | 'sell'): Levels => {
    const out: Levels = [];
    for (const o of book.snapshot().filter((r) => r.side === side)) {
      const last = out[out.length - 1];
      if (last?.price === o.price) last.orders.push([o.id, o.qty]);
      else out.push({ price: o.price, orders: [[o.id, o.qty]] });
    }
    return out.sort((a, b) => a.price - b.price);
  };
  return {
    bids: levels('buy'),
    asks: levels('sell'),
    stops: book
      .pendingStops()
      .map((s) => s.id)
      .sort(),
  };
}

function theirs(lob: Lob): { bids: Levels; asks: Levels; stops: string[] } {
  const snap = lob.snapshot();
  const levels = (side: typeof snap.bids): Levels =>
    side
      .filter((l) => l.orders.length > 0)
      .map((l) => ({ price: l.price, orders: l.orders.map((o): [string, number] => [o.id, o.size]) }))
      .sort((a, b) => a.price - b.price);
  const stops = [...snap.stopBook.bids, ...snap.stopBook.asks]
    .flatMap((l) => l.orders.map((o) => o.id))
    .sort();
  return { bids: levels(snap.bids), asks: levels(snap.asks), stops };
}

describe('stop orders against nodejs-order-book', () => {
  it('same books, same pending stops and the same triggers on the streams both define', () => {
    let compared = 0;
    let triggers = 0;
    let many = 0;
    let opposite = 0;
    let ioc = 0;
    let crossing = 0;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80, size: 'max' }), (stream) => {
        const book = new OrderBook('P', { defaultStp: 'none' });
        const lob = new Lob();
        let seq = 0;
        const submit = (o: Omit<NewOrder, 'seq' | 'ts' | 'accountId'>) => {
          seq++;
          const r = book.submit({ ...o, accountId: o.id, seq, ts: seq });
          if (!r.ok) throw new Error(r.reason);
          seq = Math.max(seq, ...r.triggered.map((t) => t.seq));
          return r;
        };
        submit({ id: 's0', side: 'sell', type: 'limit', tif: 'GTC', price: 100, qty: 1 });
        submit({ id: 'b0', side: 'buy', type: 'limit', tif: 'GTC', price: 100, qty: 1 });
        lob.limit({ id: 's0', side: LobSide.SELL, price: 100, size: 1 });
        lob.limit({ id: 'b0', side: LobSide.BUY, price: 100, size: 1 });

        for (const [i, o] of stream.entries()) {
          const id = `o${i}`;
          if (o.kind === 'cancel') {
            const resting = book.snapshot();
            const target = resting[o.pick % Math.max(1, resting.length)];
            if (!target) continue;
            book.cancel(target.id);
            lob.cancel(target.id);
            expect(ours(book)).toEqual(theirs(lob));
            compared++;
            continue;
          }
          const side = o.buy ? 'buy' : 'sell';
          const lobSide = o.buy ? LobSide.BUY : LobSide.SELL;
          if (o.kind === 'add') {
            const price = o.buy ? 100 - o.away : 100 + o.away;
            const r = submit({ id, side, type: 'limit', tif: 'GTC', price, qty: o.qty });
            // A crossing add that triggers: the library runs the stop before the remainder rests, and
            // only stops of the add's side. Outside the common ground.
            if (r.triggered.length > 0) {
              crossing++;
              break;
            }
            expect(lob.limit({ id, side: lobSide, price, size: o.qty }).activated).toEqual([]);
          } else if (o.kind === 'take') {
            const price = o.buy ? 100 + o.away : 100 - o.away;
            const r = submit({
              id,
              side,
              type: o.market ? 'market' : 'limit',
              tif: 'IOC',
              price: o.market ? undefined : price,
              qty: o.qty,
            });
            // Outside the common ground: stop comparing this stream.
            if (r.triggered.length > 1) {
              many++;
              break;
            }
            if (r.triggered.some((t) => t.side !== side)) {
              opposite++;
              break;
            }
            if (
              r.triggered.length > 0 &&
              r.cancellations.some((c) => c.orderId === id && c.reason === 'ioc')
            ) {
              ioc++;
              break;
            }
            const res = o.market
              ? lob.market({ id, side: lobSide, size: o.qty })
              : lob.limit({
                  id,
                  side: lobSide,
                  price,
                  size: o.qty,
                  timeInForce: 'IOC' as LimitOrderOptions['timeInForce'],
                });
            expect(res.activated.map((a) => a.id)).toEqual(r.triggered.map((t) => t.orderId));
            triggers += r.triggered.length;
          } else {
            const last = book.lastPrice()!;
            const stopPrice = o.buy ? last + o.away : last - o.away; // not met yet: the library refuses a met one
            const limit = o.buy ? stopPrice + o.beyond : stopPrice - o.beyond;
            const r = submit({
              id,
              side,
              type: o.limit ? 'limit' : 'market',
              tif: 'GTC',
              price: o.limit ? limit : undefined,
              stopPrice,
              qty: o.qty,
            });
            expect(r.pending?.id).toBe(id);
            const res = o.limit
              ? lob.stopLimit({ id, side: lobSide, price: limit, stopPrice, size: o.qty })
              : lob.stopMarket({ id, side: lobSide, stopPrice, size: o.qty });
            expect(res.err).toBeNull();
          }
          expect(ours(book)).toEqual(theirs(lob));
          compared++;
        }
      }),
      // Seeded, as the counts below are asserted; PROPERTY_SEED=<n> explores other streams.
      { numRuns: 500, seed: Number(process.env.PROPERTY_SEED ?? 20261201) },
    );
    // The common ground was reached often enough to mean something.
    expect(compared, `${compared} steps compared, ${triggers} triggers`).toBeGreaterThan(3_000);
    expect(
      triggers,
      `${triggers} triggers, ${many} many, ${opposite} opposite, ${ioc} ioc, ${crossing} crossing adds`,
    ).toBeGreaterThan(100);
  }, 60_000);
});
