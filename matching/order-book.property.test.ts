import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OrderBook, type NewOrder, type RestingOrder, type StpMode, type SubmitResult } from './index.js';
import { ReferenceBook } from './reference-book.js';

// ---- random operation streams -------------------------------------------------------------------

const price = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 96, max: 104 }) },
  fc.constantFrom(0, -3, 100.5),
);
const qty = fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 1, max: 12 }) }, fc.constantFrom(0, -1, 2.5));
const stp = fc.constantFrom<StpMode | undefined>(
  undefined,
  undefined,
  'cancel_newest',
  'cancel_oldest',
  'cancel_both',
  'none',
);

/** Mostly none; a stop price near the traded prices otherwise (a few invalid ones). */
const stop = fc.oneof(
  { weight: 7, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.integer({ min: 96, max: 104 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 99.5) },
);

const submitOp = fc.record({
  kind: fc.constant('submit' as const),
  /** Reuse an earlier id (a duplicate while it rests) instead of a fresh one. */
  reuse: fc.option(fc.nat(), { freq: 8 }),
  account: fc.constantFrom('a', 'b', 'c'),
  side: fc.constantFrom('buy' as const, 'sell' as const),
  type: fc.constantFrom<NewOrder['type'][]>('limit', 'limit', 'limit', 'market'),
  tif: fc.constantFrom<NewOrder['tif'][]>('GTC', 'GTC', 'DAY', 'IOC', 'FOK'),
  price: fc.option(price, { freq: 10 }),
  qty,
  stp,
  stop,
});
const cancelOp = fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() });
const modifyOp = fc.record({
  kind: fc.constant('modify' as const),
  pick: fc.nat(),
  price,
  qty,
  stop,
  /** A pending stop-market's protection price: mostly none. */
  protect: fc.boolean(),
});
const ops = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: submitOp },
    { weight: 2, arbitrary: cancelOp },
    { weight: 2, arbitrary: modifyOp },
  ),
  {
    maxLength: 150,
    size: 'max',
  },
);

// ---- checks -------------------------------------------------------------------------------------

const plain = (o: RestingOrder | undefined) =>
  o && {
    id: o.id,
    accountId: o.accountId,
    side: o.side,
    price: o.price,
    qty: o.qty,
    seq: o.seq,
    ts: o.ts,
    tif: o.tif,
    stp: o.stp,
  };

/** Structural invariants of the engine, from its public reads only. Plain checks: they run every step. */
function checkBook(book: OrderBook): void {
  const fail = (what: string) => {
    throw new Error(`${what}: ${JSON.stringify(book.snapshot())}`);
  };
  const all = book.snapshot();
  if (book.size() !== all.length) fail('size');
  if (!all.every((o) => Number.isSafeInteger(o.qty) && o.qty > 0)) fail('qty');
  const bids = all.filter((o) => o.side === 'buy');
  const asks = all.filter((o) => o.side === 'sell');
  // Priority: better price first, then lower sequence (earlier) within a price.
  const ordered = (side: RestingOrder[], better: (a: number, b: number) => boolean) =>
    side.every(
      (o, i) =>
        i === 0 ||
        better(side[i - 1]!.price, o.price) ||
        (side[i - 1]!.price === o.price && side[i - 1]!.seq < o.seq),
    );
  if (!ordered(bids, (a, b) => a > b) || !ordered(asks, (a, b) => a < b)) fail('priority');
  // Never crossed.
  const q = book.quote();
  if (q.bid && q.ask && q.bid.price >= q.ask.price) fail('crossed');
  // Aggregates agree with the orders.
  const levels = (side: RestingOrder[]) => {
    const out: { price: number; qty: number; orders: number }[] = [];
    for (const o of side) {
      const last = out[out.length - 1];
      if (last && last.price === o.price) {
        last.qty += o.qty;
        last.orders++;
      } else out.push({ price: o.price, qty: o.qty, orders: 1 });
    }
    return out;
  };
  const top = (l: { price: number; qty: number }[]) => (l[0] ? { price: l[0].price, qty: l[0].qty } : null);
  const want = JSON.stringify([
    { bids: levels(bids), asks: levels(asks) },
    { bid: top(levels(bids)), ask: top(levels(asks)) },
  ]);
  if (JSON.stringify([book.depth(1_000), q]) !== want) fail('aggregates');
}

/** An operation that triggered stops used the sequences after its own: the next one follows them. */
function nextSeq(seq: number, r: SubmitResult): number {
  return r.ok ? Math.max(seq, ...r.triggered.map((t) => t.seq)) : seq;
}

/** No pending stop is met by the last trade price (it would have triggered); the count is theirs. */
function checkStops(book: OrderBook): void {
  const stops = book.pendingStops();
  if (book.stopCount() !== stops.length) throw new Error(`stopCount ${book.stopCount()} of ${stops.length}`);
  const last = book.lastPrice();
  if (last === undefined) return;
  for (const s of stops)
    if (s.side === 'buy' ? last >= s.stopPrice : last <= s.stopPrice)
      throw new Error(`stop ${s.id} at ${s.stopPrice} pending at last price ${last}`);
}

/** Per order id: filled + resting + cancelled = submitted (with modify changes to the leaves). */
class Conservation {
  private readonly submitted = new Map<string, number>();
  private readonly done = new Map<string, number>();

  private add(map: Map<string, number>, id: string, n: number) {
    map.set(id, (map.get(id) ?? 0) + n);
  }

  accepted(takerId: string, newQty: number, r: SubmitResult | { ok: false }) {
    if (!r.ok) return;
    this.add(this.submitted, takerId, newQty);
    for (const f of r.fills) {
      this.add(this.done, f.makerOrderId, f.qty);
      this.add(this.done, f.takerOrderId, f.qty);
    }
    for (const c of r.cancellations) this.add(this.done, c.orderId, c.qty);
  }

  cancelled(o: { id: string; qty: number } | undefined) {
    if (o) this.add(this.done, o.id, o.qty);
  }

  check(book: OrderBook) {
    for (const [id, total] of this.submitted) {
      const seen = (this.done.get(id) ?? 0) + (book.get(id)?.qty ?? book.stop(id)?.qty ?? 0);
      if (seen !== total)
        throw new Error(`order ${id}: filled + resting + cancelled = ${seen}, submitted ${total}`);
    }
  }
}

const PROPERTY_SEED = Number(process.env.PROPERTY_SEED ?? 20261201);

describe('OrderBook against the reference model', () => {
  it('random streams: same results and same book; never crossed; priority holds; quantity is conserved', () => {
    // What the streams exercised, so that a generator change cannot quietly stop testing a rule.
    const seen = new Map<string, number>();
    const saw = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
    const tally = (r: SubmitResult, what: string) => {
      if (!r.ok) return saw(`reject ${r.code}`);
      if (r.fills.length > 0) saw(`${what} fill`);
      if (r.fills.length > 1) saw(`${what} multi-fill`);
      for (const c of r.cancellations) saw(`cancel ${c.reason}`);
      if (r.resting && r.fills.length > 0) saw(`${what} partial rest`);
      if (r.pending) saw(`${what} pending`);
      if (r.triggered.length > 0) saw(`${what} triggered`);
      if (r.triggered.length > 1) saw('several triggered');
      if (r.triggered.some((t) => t.seq > r.triggered[0]!.seq + 1)) saw('cascade');
      if (
        r.triggered.some((t) => t.seq === r.triggered[0]!.seq && r.pending === null && r.fills.length === 0)
      )
        saw('triggered without trades');
    };
    fc.assert(
      fc.property(ops, (stream) => {
        const book = new OrderBook('P');
        const ref = new ReferenceBook();
        const money = new Conservation();
        const ids: string[] = [];
        let seq = 0;
        for (const op of stream) {
          seq++;
          const ts = 10 * seq;
          if (op.kind === 'submit') {
            const reused = op.reuse !== null && ids.length > 0 ? ids[op.reuse % ids.length] : undefined;
            const id = reused ?? `o${seq}`;
            if (!reused) ids.push(id);
            const order: NewOrder = {
              id,
              accountId: op.account,
              side: op.side,
              type: op.type,
              tif: op.tif,
              price: op.price ?? undefined,
              stopPrice: op.stop,
              qty: op.qty,
              seq,
              ts,
              stp: op.stp,
            };
            const r = book.submit(order);
            expect(r).toEqual(ref.submit(order));
            money.accepted(id, op.qty, r);
            tally(r, `${op.stop === undefined ? '' : 'stop '}${op.type} ${op.tif}`);
            seq = nextSeq(seq, r);
          } else {
            const id = ids.length > 0 && op.pick % 7 !== 0 ? ids[op.pick % ids.length]! : 'missing';
            if (op.kind === 'cancel') {
              const r = book.cancel(id);
              expect(r && 'stopPrice' in r ? r : plain(r)).toEqual(ref.cancel(id));
              money.cancelled(r);
              saw(r ? ('stopPrice' in r ? 'cancel stop' : 'cancel hit') : 'cancel miss');
            } else {
              const pending = book.stop(id);
              const before = book.get(id)?.qty ?? pending?.qty ?? 0;
              // A pending stop takes a stop price (and for a stop-market mostly no price); a resting
              // order mostly none (a stop price on it is refused).
              const change = pending
                ? {
                    price: pending.type === 'market' && !op.protect ? undefined : op.price,
                    qty: op.qty,
                    stopPrice: op.stop ?? pending.stopPrice,
                  }
                : { price: op.price, qty: op.qty, stopPrice: op.protect ? op.stop : undefined };
              const r = book.modify(id, change, seq, ts);
              expect(r).toEqual(ref.modify(id, change, seq, ts));
              money.accepted(id, r.ok ? op.qty - before : 0, r);
              tally(r, pending ? 'stop modify' : 'modify');
              if (r.ok && r.resting && r.resting.seq !== seq) saw('modify kept priority');
              if (r.ok && r.pending && r.pending.seq !== seq) saw('stop modify kept priority');
              seq = nextSeq(seq, r);
            }
          }
          const [mine, theirs] = [book.snapshot(), ref.snapshot()];
          if (JSON.stringify(mine) !== JSON.stringify(theirs)) expect(mine).toEqual(theirs);
          const [t1, t2] = [book.lastTrades(50), ref.lastTrades(50)];
          if (JSON.stringify(t1) !== JSON.stringify(t2)) expect(t1).toEqual(t2);
          const [s1, s2] = [book.pendingStops(), ref.pendingStops()];
          if (JSON.stringify(s1) !== JSON.stringify(s2)) expect(s1).toEqual(s2);
          checkStops(book);
          checkBook(book);
          money.check(book);
        }
      }),
      // Seeded: the coverage below is asserted, so it must not depend on the luck of one run (a random
      // run once saw the rarest case 3 times). PROPERTY_SEED=<n> explores other streams.
      { numRuns: 600, seed: PROPERTY_SEED },
    );
    for (const what of [
      'limit GTC fill',
      'limit GTC multi-fill',
      'limit GTC partial rest',
      'limit DAY fill',
      'limit IOC fill',
      'limit FOK fill',
      'market GTC fill',
      'market IOC fill',
      'modify fill',
      'modify kept priority',
      'cancel stp',
      'cancel ioc',
      'cancel fok',
      'cancel market',
      'cancel hit',
      'cancel miss',
      'reject 1',
      'reject 2',
      'reject 3',
      'reject 4',
      'reject 13',
      'stop limit GTC pending',
      'stop market GTC pending',
      'stop limit GTC triggered',
      'stop market IOC triggered',
      'limit GTC triggered',
      'market GTC triggered',
      'stop modify triggered',
      'stop modify pending',
      'stop modify kept priority',
      'several triggered',
      'cascade',
      'cancel stop',
    ])
      expect(seen.get(what) ?? 0, what).toBeGreaterThan(10);
    // Rarer: a modify whose re-entry trades through a stop's price.
    expect(seen.get('modify triggered') ?? 0, 'modify triggered').toBeGreaterThan(3);
  }, 60_000);

  it('load rebuilds the same book that produced the snapshot', () => {
    fc.assert(
      fc.property(ops, (stream) => {
        const book = new OrderBook('P');
        let seq = 0;
        for (const op of stream) {
          seq++;
          if (op.kind !== 'submit') continue;
          const r = book.submit({
            id: `o${seq}`,
            accountId: op.account,
            side: op.side,
            type: 'limit',
            tif: 'GTC',
            price: op.price ?? 100,
            stopPrice: op.stop,
            qty: op.qty,
            seq,
            ts: seq,
          });
          seq = nextSeq(seq, r);
        }
        const snap = book.snapshot();
        const stops = book.pendingStops();
        const copy = new OrderBook('P');
        // Reversed input: load must restore priority from seq, not from input order.
        copy.load([...snap].reverse(), { stops: [...stops].reverse(), lastPrice: book.lastPrice() });
        expect(copy.snapshot()).toEqual(snap);
        expect(copy.depth(100)).toEqual(book.depth(100));
        expect(copy.pendingStops()).toEqual(stops);
        expect(copy.lastPrice()).toEqual(book.lastPrice());
      }),
      { numRuns: 100 },
    );
  });
});
