import { describe, expect, it } from 'vitest';
import { OrderBook, Reject, type Accepted, type NewOrder, type SubmitResult } from './index.js';

/** A book plus a sequence counter, so tests only spell out what matters. */
function setup() {
  const book = new OrderBook('TEST');
  let seq = 0;
  const order = (o: Partial<NewOrder> & Pick<NewOrder, 'id' | 'side' | 'qty'>): NewOrder => {
    seq++;
    return { accountId: `acct-${o.id}`, type: 'limit', tif: 'GTC', seq, ts: 1_000 + seq, ...o };
  };
  const submit = (o: Partial<NewOrder> & Pick<NewOrder, 'id' | 'side' | 'qty'>): Accepted => {
    const r = ok(book.submit(order(o)));
    // Triggered stops took the sequences after the operation's own.
    for (const t of r.triggered) seq = Math.max(seq, t.seq);
    return r;
  };
  const nextSeq = () => ++seq;
  return { book, order, submit, nextSeq };
}

function ok(r: SubmitResult): Accepted {
  if (!r.ok) throw new Error(`expected accepted, got reject ${r.code}: ${r.reason}`);
  return r;
}

const fillsOf = (r: Accepted) => r.fills.map((f) => [f.makerOrderId, f.price, f.qty]);
const idsAt = (book: OrderBook, side: 'buy' | 'sell', price: number) =>
  book
    .snapshot()
    .filter((o) => o.side === side && o.price === price)
    .map((o) => o.id);

describe('price-time priority', () => {
  it('matches the best price first, then the earliest order at that price', () => {
    const { book, submit } = setup();
    submit({ id: 's1', side: 'sell', price: 101, qty: 5 });
    submit({ id: 's2', side: 'sell', price: 100, qty: 5 });
    submit({ id: 's3', side: 'sell', price: 100, qty: 5 });
    const r = submit({ id: 'b1', side: 'buy', price: 101, qty: 12 });
    expect(fillsOf(r)).toEqual([
      ['s2', 100, 5],
      ['s3', 100, 5],
      ['s1', 101, 2],
    ]);
    expect(r.resting).toBeNull();
    expect(book.get('s1')?.qty).toBe(3);
    expect(book.size()).toBe(1);
  });

  it('trades at the maker price, not the taker limit', () => {
    const { submit } = setup();
    submit({ id: 'b1', side: 'buy', price: 105, qty: 3 });
    const r = submit({ id: 's1', side: 'sell', price: 90, qty: 3 });
    expect(fillsOf(r)).toEqual([['b1', 105, 3]]);
    expect(r.fills[0]).toMatchObject({
      takerOrderId: 's1',
      makerAccountId: 'acct-b1',
      takerAccountId: 'acct-s1',
      takerSide: 'sell',
      makerLeaves: 0,
      takerLeaves: 0,
    });
  });

  it('does not trade when prices do not cross, and rests both sides', () => {
    const { book, submit } = setup();
    submit({ id: 'b1', side: 'buy', price: 99, qty: 3 });
    const r = submit({ id: 's1', side: 'sell', price: 100, qty: 3 });
    expect(r.fills).toEqual([]);
    expect(r.resting).toMatchObject({ id: 's1', price: 100, qty: 3, side: 'sell' });
    expect(book.quote()).toEqual({ bid: { price: 99, qty: 3 }, ask: { price: 100, qty: 3 } });
  });
});

describe('partial fills', () => {
  it('leaves a partially filled maker at the head of its queue', () => {
    const { book, submit } = setup();
    submit({ id: 's1', side: 'sell', price: 100, qty: 10 });
    submit({ id: 's2', side: 'sell', price: 100, qty: 10 });
    const r = submit({ id: 'b1', side: 'buy', price: 100, qty: 4 });
    expect(r.fills[0]).toMatchObject({ makerOrderId: 's1', qty: 4, makerLeaves: 6, takerLeaves: 0 });
    expect(idsAt(book, 'sell', 100)).toEqual(['s1', 's2']);
    expect(book.quote().ask).toEqual({ price: 100, qty: 16 });
  });

  it('rests the remainder of a partially filled GTC or DAY taker at its limit', () => {
    for (const tif of ['GTC', 'DAY'] as const) {
      const { book, submit } = setup();
      submit({ id: 's1', side: 'sell', price: 100, qty: 3 });
      const r = submit({ id: 'b1', side: 'buy', price: 101, qty: 10, tif });
      expect(fillsOf(r)).toEqual([['s1', 100, 3]]);
      expect(r.cancellations).toEqual([]);
      expect(r.resting).toMatchObject({ id: 'b1', price: 101, qty: 7, tif });
      expect(book.quote()).toEqual({ bid: { price: 101, qty: 7 }, ask: null });
    }
  });
});

describe('time in force', () => {
  it('IOC fills what it can and cancels the rest', () => {
    const { book, submit } = setup();
    submit({ id: 's1', side: 'sell', price: 100, qty: 3 });
    const r = submit({ id: 'b1', side: 'buy', price: 100, qty: 5, tif: 'IOC' });
    expect(fillsOf(r)).toEqual([['s1', 100, 3]]);
    expect(r.cancellations).toEqual([{ orderId: 'b1', accountId: 'acct-b1', qty: 2, reason: 'ioc' }]);
    expect(r.resting).toBeNull();
    expect(book.size()).toBe(0);
  });

  it('IOC with nothing to trade is cancelled whole', () => {
    const { submit } = setup();
    const r = submit({ id: 'b1', side: 'buy', price: 100, qty: 5, tif: 'IOC' });
    expect(r.fills).toEqual([]);
    expect(r.cancellations).toEqual([{ orderId: 'b1', accountId: 'acct-b1', qty: 5, reason: 'ioc' }]);
  });

  it('FOK fills completely when enough crosses', () => {
    const { book, submit } = setup();
    submit({ id: 's1', side: 'sell', price: 100, qty: 3 });
    submit({ id: 's2', side: 'sell', price: 101, qty: 3 });
    const r = submit({ id: 'b1', side: 'buy', price: 101, qty: 5, tif: 'FOK' });
    expect(fillsOf(r)).toEqual([
      ['s1', 100, 3],
      ['s2', 101, 2],
    ]);
    expect(r.cancellations).toEqual([]);
    expect(book.get('s2')?.qty).toBe(1);
  });

  it('FOK that cannot fill completely has no effect at all', () => {
    const { book, submit } = setup();
    submit({ id: 's1', side: 'sell', price: 100, qty: 3 });
    submit({ id: 's2', side: 'sell', price: 102, qty: 3 });
    const before = book.snapshot();
    const r = submit({ id: 'b1', side: 'buy', price: 101, qty: 5, tif: 'FOK' });
    expect(r.fills).toEqual([]);
    expect(r.cancellations).toEqual([{ orderId: 'b1', accountId: 'acct-b1', qty: 5, reason: 'fok' }]);
    expect(book.snapshot()).toEqual(before);
    expect(book.lastTrades(10)).toEqual([]);
  });

  it("FOK does not count the taker's own orders that self-trade prevention would remove", () => {
    const { book, submit } = setup();
    submit({ id: 's1', side: 'sell', price: 100, qty: 3, accountId: 'me' });
    submit({ id: 's2', side: 'sell', price: 100, qty: 3, accountId: 'other' });
    const before = book.snapshot();
    const r = submit({
      id: 'b1',
      side: 'buy',
      price: 100,
      qty: 5,
      tif: 'FOK',
      accountId: 'me',
      stp: 'cancel_oldest',
    });
    expect(r.fills).toEqual([]);
    expect(r.cancellations).toEqual([{ orderId: 'b1', accountId: 'me', qty: 5, reason: 'fok' }]);
    expect(book.snapshot()).toEqual(before);

    const r2 = submit({
      id: 'b2',
      side: 'buy',
      price: 100,
      qty: 3,
      tif: 'FOK',
      accountId: 'me',
      stp: 'cancel_oldest',
    });
    expect(fillsOf(r2)).toEqual([['s2', 100, 3]]);
    expect(r2.cancellations).toEqual([{ orderId: 's1', accountId: 'me', qty: 3, reason: 'stp' }]);
  });

  it('FOK with cancel_newest is not fillable when its own order comes first', () => {
    const { submit } = setup();
    submit({ id: 's1', side: 'sell', price: 100, qty: 3, accountId: 'me' });
    submit({ id: 's2', side: 'sell', price: 100, qty: 10, accountId: 'other' });
    const r = submit({ id: 'b1', side: 'buy', price: 100, qty: 2, tif: 'FOK', accountId: 'me' });
    expect(r.fills).toEqual([]);
    expect(r.cancellations[0]?.reason).toBe('fok');
  });
});

describe('market orders', () => {
  it('trade through levels and never rest', () => {
    const { book, submit } = setup();
    submit({ id: 's1', side: 'sell', price: 100, qty: 3 });
    submit({ id: 's2', side: 'sell', price: 110, qty: 3 });
    const r = submit({ id: 'm1', side: 'buy', type: 'market', qty: 10 });
    expect(fillsOf(r)).toEqual([
      ['s1', 100, 3],
      ['s2', 110, 3],
    ]);
    expect(r.cancellations).toEqual([{ orderId: 'm1', accountId: 'acct-m1', qty: 4, reason: 'market' }]);
    expect(r.resting).toBeNull();
    expect(book.size()).toBe(0);
  });

  it('stop at the protection price', () => {
    const { book, submit } = setup();
    submit({ id: 's1', side: 'sell', price: 100, qty: 3 });
    submit({ id: 's2', side: 'sell', price: 110, qty: 3 });
    const r = submit({ id: 'm1', side: 'buy', type: 'market', price: 105, qty: 10, tif: 'DAY' });
    expect(fillsOf(r)).toEqual([['s1', 100, 3]]);
    expect(r.cancellations).toEqual([{ orderId: 'm1', accountId: 'acct-m1', qty: 7, reason: 'market' }]);
    expect(book.get('s2')?.qty).toBe(3);

    submit({ id: 'b1', side: 'buy', price: 90, qty: 3 });
    submit({ id: 'b2', side: 'buy', price: 80, qty: 3 });
    const s = submit({ id: 'm2', side: 'sell', type: 'market', price: 85, qty: 10 });
    expect(fillsOf(s)).toEqual([['b1', 90, 3]]);
  });

  it('on an empty side are cancelled whole (accepted, not rejected)', () => {
    const { submit } = setup();
    const r = submit({ id: 'm1', side: 'sell', type: 'market', qty: 5 });
    expect(r.fills).toEqual([]);
    expect(r.cancellations).toEqual([{ orderId: 'm1', accountId: 'acct-m1', qty: 5, reason: 'market' }]);
  });

  it('FOK market orders fill completely or not at all', () => {
    const { book, submit } = setup();
    submit({ id: 's1', side: 'sell', price: 100, qty: 3 });
    const r = submit({ id: 'm1', side: 'buy', type: 'market', qty: 5, tif: 'FOK' });
    expect(r.fills).toEqual([]);
    expect(r.cancellations[0]).toMatchObject({ orderId: 'm1', qty: 5, reason: 'fok' });
    expect(book.get('s1')?.qty).toBe(3);
    const r2 = submit({ id: 'm2', side: 'buy', type: 'market', qty: 3, tif: 'FOK' });
    expect(fillsOf(r2)).toEqual([['s1', 100, 3]]);
  });
});

describe('self-trade prevention', () => {
  const build = () => {
    const t = setup();
    t.submit({ id: 'o1', side: 'sell', price: 100, qty: 2, accountId: 'x' });
    t.submit({ id: 'own', side: 'sell', price: 100, qty: 3, accountId: 'me' });
    t.submit({ id: 'o2', side: 'sell', price: 100, qty: 4, accountId: 'y' });
    return t;
  };

  it('cancel_newest (the default) cancels the taker remainder and keeps the resting order', () => {
    const { book, submit } = build();
    const r = submit({ id: 't', side: 'buy', price: 100, qty: 6, accountId: 'me' });
    expect(fillsOf(r)).toEqual([['o1', 100, 2]]);
    expect(r.cancellations).toEqual([{ orderId: 't', accountId: 'me', qty: 4, reason: 'stp' }]);
    expect(r.resting).toBeNull();
    expect(idsAt(book, 'sell', 100)).toEqual(['own', 'o2']);
  });

  it('cancel_oldest cancels the resting order and keeps matching', () => {
    const { book, submit } = build();
    const r = submit({ id: 't', side: 'buy', price: 100, qty: 7, accountId: 'me', stp: 'cancel_oldest' });
    expect(fillsOf(r)).toEqual([
      ['o1', 100, 2],
      ['o2', 100, 4],
    ]);
    expect(r.cancellations).toEqual([{ orderId: 'own', accountId: 'me', qty: 3, reason: 'stp' }]);
    expect(r.resting).toMatchObject({ id: 't', qty: 1, price: 100 });
    expect(book.has('own')).toBe(false);
  });

  it('cancel_both cancels the resting order and the taker remainder', () => {
    const { book, submit } = build();
    const r = submit({ id: 't', side: 'buy', price: 100, qty: 6, accountId: 'me', stp: 'cancel_both' });
    expect(fillsOf(r)).toEqual([['o1', 100, 2]]);
    expect(r.cancellations).toEqual([
      { orderId: 'own', accountId: 'me', qty: 3, reason: 'stp' },
      { orderId: 't', accountId: 'me', qty: 4, reason: 'stp' },
    ]);
    expect(idsAt(book, 'sell', 100)).toEqual(['o2']);
  });

  it('none lets the account trade with itself', () => {
    const { submit } = build();
    const r = submit({ id: 't', side: 'buy', price: 100, qty: 6, accountId: 'me', stp: 'none' });
    expect(fillsOf(r)).toEqual([
      ['o1', 100, 2],
      ['own', 100, 3],
      ['o2', 100, 1],
    ]);
    expect(r.cancellations).toEqual([]);
  });

  it('the book default can be changed', () => {
    const book = new OrderBook('X', { defaultStp: 'none' });
    ok(
      book.submit({
        id: 'a',
        accountId: 'me',
        side: 'sell',
        type: 'limit',
        tif: 'GTC',
        price: 1,
        qty: 1,
        seq: 1,
        ts: 0,
      }),
    );
    const r = ok(
      book.submit({
        id: 'b',
        accountId: 'me',
        side: 'buy',
        type: 'limit',
        tif: 'GTC',
        price: 1,
        qty: 1,
        seq: 2,
        ts: 0,
      }),
    );
    expect(r.fills).toHaveLength(1);
  });

  it('a self-trade-cancelled resting order that emptied its level removes the level', () => {
    const { book, submit } = setup();
    submit({ id: 'own', side: 'sell', price: 100, qty: 3, accountId: 'me' });
    submit({ id: 'o', side: 'sell', price: 101, qty: 3, accountId: 'x' });
    const r = submit({ id: 't', side: 'buy', price: 100, qty: 1, accountId: 'me', stp: 'cancel_both' });
    expect(r.cancellations.map((c) => c.orderId)).toEqual(['own', 't']);
    expect(book.quote().ask).toEqual({ price: 101, qty: 3 });
  });
});

describe('cancel', () => {
  it('removes an order from anywhere in the queue and returns it', () => {
    const { book, submit } = setup();
    for (const id of ['a', 'b', 'c']) submit({ id, side: 'buy', price: 50, qty: 2 });
    expect(book.cancel('b')).toMatchObject({ id: 'b', qty: 2, price: 50, side: 'buy' });
    expect(idsAt(book, 'buy', 50)).toEqual(['a', 'c']);
    expect(book.quote().bid).toEqual({ price: 50, qty: 4 });
    book.cancel('a');
    book.cancel('c');
    expect(book.quote().bid).toBeNull();
    expect(book.depth(5)).toEqual({ bids: [], asks: [] });
  });

  it('returns undefined for an unknown or already removed order', () => {
    const { book, submit } = setup();
    submit({ id: 'a', side: 'buy', price: 50, qty: 2 });
    expect(book.cancel('nope')).toBeUndefined();
    expect(book.cancel('a')).toBeDefined();
    expect(book.cancel('a')).toBeUndefined();
  });

  it('returns the leaves quantity of a partially filled order', () => {
    const { book, submit } = setup();
    submit({ id: 'a', side: 'buy', price: 50, qty: 10 });
    submit({ id: 's', side: 'sell', price: 50, qty: 4 });
    expect(book.cancel('a')?.qty).toBe(6);
  });
});

describe('modify', () => {
  const build = () => {
    const t = setup();
    t.submit({ id: 'a', side: 'buy', price: 100, qty: 5 });
    t.submit({ id: 'b', side: 'buy', price: 100, qty: 5 });
    return t;
  };

  it('a size decrease at the same price keeps priority', () => {
    const { book, nextSeq } = build();
    const aSeq = book.get('a')!.seq;
    const r = ok(book.modify('a', { price: 100, qty: 2 }, nextSeq(), 5));
    expect(r.resting).toMatchObject({ id: 'a', qty: 2, seq: aSeq });
    expect(idsAt(book, 'buy', 100)).toEqual(['a', 'b']);
    expect(book.quote().bid).toEqual({ price: 100, qty: 7 });
    expect(book.get('a')?.seq).toBe(aSeq);
  });

  it('a size increase loses priority and takes the new sequence', () => {
    const { book, nextSeq } = build();
    const seq = nextSeq();
    const r = ok(book.modify('a', { price: 100, qty: 8 }, seq, 5));
    expect(r.fills).toEqual([]);
    expect(r.resting).toMatchObject({ id: 'a', qty: 8, seq });
    expect(idsAt(book, 'buy', 100)).toEqual(['b', 'a']);
    expect(book.quote().bid).toEqual({ price: 100, qty: 13 });
  });

  it('a price change loses priority, even back to the old price', () => {
    const { book, nextSeq } = build();
    ok(book.modify('a', { price: 99, qty: 5 }, nextSeq(), 5));
    expect(book.depth(5).bids).toEqual([
      { price: 100, qty: 5, orders: 1 },
      { price: 99, qty: 5, orders: 1 },
    ]);
    ok(book.modify('a', { price: 100, qty: 5 }, nextSeq(), 6));
    expect(idsAt(book, 'buy', 100)).toEqual(['b', 'a']);
  });

  it('a price change that crosses trades as a taker at the makers prices, the rest rests', () => {
    const { book, submit, nextSeq } = build();
    submit({ id: 's1', side: 'sell', price: 102, qty: 3 });
    submit({ id: 's2', side: 'sell', price: 103, qty: 3 });
    const r = ok(book.modify('a', { price: 102, qty: 5 }, nextSeq(), 9));
    expect(r.fills.map((f) => [f.makerOrderId, f.takerOrderId, f.price, f.qty])).toEqual([
      ['s1', 'a', 102, 3],
    ]);
    expect(r.resting).toMatchObject({ id: 'a', price: 102, qty: 2 });
    expect(book.quote()).toEqual({ bid: { price: 102, qty: 2 }, ask: { price: 103, qty: 3 } });
  });

  it('a crossing modify fully filled leaves the book', () => {
    const { book, submit, nextSeq } = build();
    submit({ id: 's1', side: 'sell', price: 102, qty: 9 });
    const r = ok(book.modify('b', { price: 102, qty: 5 }, nextSeq(), 9));
    expect(fillsOf(r)).toEqual([['s1', 102, 5]]);
    expect(r.resting).toBeNull();
    expect(book.has('b')).toBe(false);
  });

  it('rejects unknown ids and invalid values without changing the book', () => {
    const { book, nextSeq } = build();
    const before = book.snapshot();
    expect(book.modify('zz', { price: 100, qty: 1 }, nextSeq(), 0)).toMatchObject({
      ok: false,
      code: Reject.UnknownOrder,
    });
    expect(book.modify('a', { price: 100, qty: 0 }, nextSeq(), 0)).toMatchObject({
      ok: false,
      code: Reject.InvalidQty,
    });
    expect(book.modify('a', { price: 1.5, qty: 1 }, nextSeq(), 0)).toMatchObject({
      ok: false,
      code: Reject.InvalidPrice,
    });
    expect(book.modify('a', { price: 100, qty: 1 }, -1, 0)).toMatchObject({
      ok: false,
      code: Reject.InvalidSeq,
    });
    expect(book.snapshot()).toEqual(before);
  });
});

describe('stop orders', () => {
  /** A trade at `price` between two other accounts, so that the last price is `price`. */
  const print = (submit: ReturnType<typeof setup>['submit'], id: string, price: number) => {
    submit({ id: `${id}-m`, side: 'sell', price, qty: 1 });
    return submit({ id: `${id}-t`, side: 'buy', price, qty: 1 });
  };

  it('a stop waits outside the visible book and cannot be traded against', () => {
    const { book, submit } = setup();
    print(submit, 'p', 100);
    const r = submit({ id: 'st', side: 'sell', type: 'limit', price: 95, stopPrice: 98, qty: 5 });
    expect(r.pending).toMatchObject({ id: 'st', stopPrice: 98, price: 95, type: 'limit', qty: 5 });
    expect(r.resting).toBeNull();
    expect(book.size()).toBe(0);
    expect(book.quote()).toEqual({ bid: null, ask: null });
    expect(book.get('st')).toBeUndefined();
    expect(book.stop('st')?.stopPrice).toBe(98);
    expect(book.has('st')).toBe(true);
    // A buy at the stop-limit's price finds nothing to trade with.
    expect(submit({ id: 'b', side: 'buy', price: 95, qty: 5 }).fills).toEqual([]);
  });

  it('a buy stop triggers when a trade prints at or above its stop price and then trades as a market order', () => {
    const { book, submit } = setup();
    print(submit, 'p', 100);
    submit({ id: 'st', side: 'buy', type: 'market', stopPrice: 102, qty: 3 });
    submit({ id: 'a1', side: 'sell', price: 101, qty: 1 });
    submit({ id: 'a2', side: 'sell', price: 102, qty: 1 });
    submit({ id: 'a3', side: 'sell', price: 104, qty: 5 });
    // A trade at 101 does not reach the stop.
    expect(submit({ id: 't1', side: 'buy', price: 101, qty: 1 }).triggered).toEqual([]);
    const r = submit({ id: 't2', side: 'buy', price: 102, qty: 1 });
    expect(r.triggered).toEqual([
      {
        orderId: 'st',
        accountId: 'acct-st',
        side: 'buy',
        stopPrice: 102,
        seq: r.fills[0]!.seq + 1,
        ts: r.fills[0]!.ts,
      },
    ]);
    expect(fillsOf(r)).toEqual([
      ['a2', 102, 1],
      ['a3', 104, 3],
    ]);
    expect(r.fills[1]).toMatchObject({ takerOrderId: 'st', seq: r.triggered[0]!.seq });
    expect(book.has('st')).toBe(false);
    expect(book.get('a3')?.qty).toBe(2);
  });

  it('a sell stop-limit triggers at or below its stop price and rests what it cannot fill, with its trigger sequence', () => {
    const { book, submit } = setup();
    print(submit, 'p', 100);
    submit({ id: 'st', side: 'sell', type: 'limit', price: 97, stopPrice: 98, qty: 4 });
    submit({ id: 'b1', side: 'buy', price: 98, qty: 1 });
    submit({ id: 'b2', side: 'buy', price: 97, qty: 1 });
    const r = submit({ id: 't', side: 'sell', price: 98, qty: 1 });
    expect(r.triggered.map((t) => t.orderId)).toEqual(['st']);
    expect(fillsOf(r)).toEqual([
      ['b1', 98, 1],
      ['b2', 97, 1],
    ]);
    expect(book.get('st')).toMatchObject({ price: 97, qty: 3, seq: r.triggered[0]!.seq });
    expect(book.quote().ask).toEqual({ price: 97, qty: 3 });
  });

  it('triggers at placement when the last trade price already meets the stop', () => {
    const { book, submit } = setup();
    print(submit, 'p', 100);
    submit({ id: 'a', side: 'sell', price: 101, qty: 2 });
    const r = submit({ id: 'st', side: 'buy', type: 'market', stopPrice: 100, qty: 1 });
    expect(r.pending).toBeNull();
    expect(r.triggered).toMatchObject([{ orderId: 'st', seq: r.fills[0]!.seq }]);
    expect(fillsOf(r)).toEqual([['a', 101, 1]]);
    expect(book.lastPrice()).toBe(101);
  });

  it('before any trade a stop always waits', () => {
    const { book, submit } = setup();
    expect(submit({ id: 'st', side: 'buy', type: 'market', stopPrice: 1, qty: 1 }).pending).not.toBeNull();
    expect(book.lastPrice()).toBeUndefined();
  });

  it('several stops met at once trigger in price then time order of triggering, and cascade', () => {
    const { book, submit } = setup();
    print(submit, 'p', 100);
    submit({ id: 'late', side: 'buy', type: 'market', stopPrice: 101, qty: 1 });
    submit({ id: 'high', side: 'buy', type: 'market', stopPrice: 102, qty: 1 });
    submit({ id: 'early', side: 'buy', type: 'market', stopPrice: 101, qty: 1, seq: 0 }); // time priority by seq
    submit({ id: 'far', side: 'buy', type: 'market', stopPrice: 104, qty: 1 });
    expect(book.stopCount()).toBe(4);
    for (const [id, price] of [
      ['a1', 101],
      ['a2', 102],
      ['a3', 103],
      ['a4', 104],
      ['a5', 105],
    ] as const)
      submit({ id, side: 'sell', price, qty: 1 });
    // One trade at 102 meets the stops at 101 and 102; their trades at 103 and 104 meet the one at 104.
    const r = submit({ id: 't', side: 'buy', price: 102, qty: 2 });
    expect(r.triggered.map((t) => t.orderId)).toEqual(['early', 'late', 'high', 'far']);
    expect(r.triggered.map((t) => t.seq)).toEqual([1, 2, 3, 4].map((i) => r.fills[0]!.seq + i));
    expect(fillsOf(r)).toEqual([
      ['a1', 101, 1],
      ['a2', 102, 1],
      ['a3', 103, 1],
      ['a4', 104, 1],
      ['a5', 105, 1],
    ]);
    expect(book.pendingStops()).toEqual([]);
    expect(book.stopCount()).toBe(0);
  });

  it('cancel removes a pending stop; modify changes its stop price and may trigger it', () => {
    const { book, submit, nextSeq } = setup();
    print(submit, 'p', 100);
    submit({ id: 'x', side: 'sell', type: 'market', stopPrice: 95, qty: 2 });
    expect(book.cancel('x')).toMatchObject({ id: 'x', stopPrice: 95, qty: 2 });
    expect(book.has('x')).toBe(false);

    submit({ id: 'st', side: 'buy', type: 'limit', price: 106, stopPrice: 105, qty: 2 });
    submit({ id: 'a', side: 'sell', price: 101, qty: 5 });
    // Smaller, same prices: in place, priority kept.
    const same = ok(book.modify('st', { price: 106, stopPrice: 105, qty: 1 }, nextSeq(), 0));
    expect(same.pending).toMatchObject({ qty: 1, stopPrice: 105 });
    expect(same.pending!.seq).toBeLessThan(book.stop('st')!.seq + 1);
    // A stop price the last price (100) meets: triggers at once and trades.
    const s = nextSeq();
    const r = ok(book.modify('st', { price: 106, stopPrice: 99, qty: 2 }, s, 0));
    expect(r.triggered).toMatchObject([{ orderId: 'st', stopPrice: 99, seq: s }]);
    expect(fillsOf(r)).toEqual([['a', 101, 2]]);
  });

  it('rejects a bad stop price, a stop price on a resting order, and a pending stop-limit without price', () => {
    const { book, order, submit, nextSeq } = setup();
    expect(book.submit(order({ id: 'z', side: 'buy', stopPrice: 0, price: 100, qty: 1 }))).toMatchObject({
      ok: false,
      code: Reject.InvalidStopPrice,
    });
    expect(book.submit(order({ id: 'z', side: 'buy', stopPrice: 100.5, price: 100, qty: 1 }))).toMatchObject({
      code: Reject.InvalidStopPrice,
    });
    submit({ id: 'r', side: 'buy', price: 90, qty: 1 });
    expect(book.modify('r', { price: 90, qty: 1, stopPrice: 91 }, nextSeq(), 0)).toMatchObject({
      code: Reject.InvalidStopPrice,
    });
    submit({ id: 'sl', side: 'buy', price: 110, stopPrice: 109, qty: 1 });
    expect(book.modify('sl', { qty: 1, stopPrice: 108 }, nextSeq(), 0)).toMatchObject({
      code: Reject.InvalidPrice,
    });
    expect(book.modify('sl', { price: 110, qty: 1 }, nextSeq(), 0)).toMatchObject({
      code: Reject.InvalidStopPrice,
    });
    expect(book.submit(order({ id: 'sl', side: 'sell', price: 90, qty: 1 }))).toMatchObject({
      code: Reject.DuplicateId,
    });
  });

  it('load restores pending stops and the last price, and refuses a stop the last price meets', () => {
    const book = new OrderBook('T');
    const stop = {
      id: 's',
      accountId: 'a',
      side: 'buy',
      type: 'market',
      stopPrice: 101,
      price: undefined,
      qty: 1,
      seq: 1,
      ts: 0,
      tif: 'GTC',
      stp: 'cancel_newest',
    } as const;
    book.load([], { stops: [stop], lastPrice: 100 });
    expect(book.pendingStops()).toEqual([stop]);
    expect(book.lastPrice()).toBe(100);
    expect(() => new OrderBook('T').load([], { stops: [stop], lastPrice: 101 })).toThrow(
      /should have triggered/,
    );
  });
});

describe('load', () => {
  it('rebuilds resting orders in seq order per level without matching', () => {
    const book = new OrderBook('X');
    book.load([
      { id: 'b2', accountId: 'u', side: 'buy', price: 100, qty: 2, seq: 7, ts: 0 },
      { id: 'b1', accountId: 'u', side: 'buy', price: 100, qty: 1, seq: 3, ts: 0 },
      { id: 'b3', accountId: 'u', side: 'buy', price: 99, qty: 4, seq: 1, ts: 0 },
      { id: 's1', accountId: 'v', side: 'sell', price: 101, qty: 5, seq: 2, ts: 0 },
    ]);
    expect(book.size()).toBe(4);
    expect(book.snapshot().map((o) => o.id)).toEqual(['b1', 'b2', 'b3', 's1']);
    expect(book.lastTrades(5)).toEqual([]);
    expect(book.get('b2')).toMatchObject({ seq: 7, price: 100, qty: 2, side: 'buy', accountId: 'u' });
    const r = ok(
      book.submit({
        id: 't',
        accountId: 'w',
        side: 'sell',
        type: 'limit',
        tif: 'IOC',
        price: 100,
        qty: 2,
        seq: 8,
        ts: 0,
      }),
    );
    expect(fillsOf(r)).toEqual([
      ['b1', 100, 1],
      ['b2', 100, 1],
    ]);
  });

  it('refuses corrupt input and leaves the book unchanged', () => {
    const book = new OrderBook('X');
    const o = { id: 'a', accountId: 'u', side: 'buy' as const, price: 100, qty: 1, seq: 1, ts: 0 };
    expect(() => book.load([o, { ...o, id: 'b', qty: 0 }])).toThrow(RangeError);
    expect(() => book.load([o, o])).toThrow(/duplicate/);
    expect(() => book.load([o, { ...o, id: 's', side: 'sell', price: 100 }])).toThrow(/crossed/);
    expect(book.size()).toBe(0);
  });
});

describe('market data', () => {
  it('quote and depth aggregate levels, best first', () => {
    const { book, submit } = setup();
    submit({ id: 'b1', side: 'buy', price: 99, qty: 1 });
    submit({ id: 'b2', side: 'buy', price: 99, qty: 2 });
    submit({ id: 'b3', side: 'buy', price: 97, qty: 5 });
    submit({ id: 'b4', side: 'buy', price: 98, qty: 5 });
    submit({ id: 's1', side: 'sell', price: 103, qty: 4 });
    submit({ id: 's2', side: 'sell', price: 101, qty: 6 });
    expect(book.quote()).toEqual({ bid: { price: 99, qty: 3 }, ask: { price: 101, qty: 6 } });
    expect(book.depth(2)).toEqual({
      bids: [
        { price: 99, qty: 3, orders: 2 },
        { price: 98, qty: 5, orders: 1 },
      ],
      asks: [
        { price: 101, qty: 6, orders: 1 },
        { price: 103, qty: 4, orders: 1 },
      ],
    });
    expect(book.depth(10).bids).toHaveLength(3);
  });

  it('lastTrades returns the newest first and keeps only the configured history', () => {
    const book = new OrderBook('X', { tradeHistory: 3 });
    let seq = 0;
    for (let i = 1; i <= 5; i++) {
      book.submit({
        id: `s${i}`,
        accountId: 'a',
        side: 'sell',
        type: 'limit',
        tif: 'GTC',
        price: 100 + i,
        qty: i,
        seq: ++seq,
        ts: seq,
      });
      book.submit({
        id: `b${i}`,
        accountId: 'b',
        side: 'buy',
        type: 'market',
        tif: 'IOC',
        qty: i,
        seq: ++seq,
        ts: seq * 10,
      });
    }
    expect(book.lastTrades(10)).toEqual([
      { price: 105, qty: 5, ts: 100, seq: 10 },
      { price: 104, qty: 4, ts: 80, seq: 8 },
      { price: 103, qty: 3, ts: 60, seq: 6 },
    ]);
    expect(book.lastTrades(1)).toEqual([{ price: 105, qty: 5, ts: 100, seq: 10 }]);
    expect(new OrderBook('Y').lastTrades(5)).toEqual([]);
  });
});

describe('rejects', () => {
  const base: NewOrder = {
    id: 'x',
    accountId: 'a',
    side: 'buy',
    type: 'limit',
    tif: 'GTC',
    price: 10,
    qty: 1,
    seq: 1,
    ts: 0,
  };
  const cases: [string, Partial<Record<keyof NewOrder, unknown>>, number][] = [
    ['zero qty', { qty: 0 }, Reject.InvalidQty],
    ['fractional qty', { qty: 1.5 }, Reject.InvalidQty],
    ['unsafe qty', { qty: 2 ** 53 }, Reject.InvalidQty],
    ['limit without price', { price: undefined }, Reject.InvalidPrice],
    ['negative price', { price: -1 }, Reject.InvalidPrice],
    ['fractional price', { price: 10.01 }, Reject.InvalidPrice],
    ['market with bad protection price', { type: 'market', price: 0 }, Reject.InvalidPrice],
    ['bad side', { side: 'hold' }, Reject.InvalidSide],
    ['bad type', { type: 'stop' }, Reject.InvalidType],
    ['bad tif', { tif: 'GTD' }, Reject.InvalidTif],
    ['bad stp', { stp: 'maybe' }, Reject.InvalidStp],
    ['empty id', { id: '' }, Reject.InvalidId],
    ['empty account', { accountId: '' }, Reject.InvalidAccount],
    ['bad seq', { seq: 1.5 }, Reject.InvalidSeq],
    ['bad ts', { ts: Number.NaN }, Reject.InvalidTs],
  ];
  it.each(cases)('%s', (_name, patch, code) => {
    const book = new OrderBook('X');
    const r = book.submit({ ...base, ...patch } as NewOrder);
    expect(r).toMatchObject({ ok: false, code });
    expect(r.ok === false && r.reason.length > 0).toBe(true);
    expect(book.size()).toBe(0);
  });

  it('a duplicate id of a resting order', () => {
    const book = new OrderBook('X');
    ok(book.submit(base));
    expect(book.submit({ ...base, seq: 2 })).toMatchObject({ ok: false, code: Reject.DuplicateId });
    expect(book.size()).toBe(1);
  });
});
