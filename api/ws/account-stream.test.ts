import { describe, expect, it } from 'vitest';
import { AccountStream, type AccountSink } from './account-stream.js';
import type { AccountEvent } from './frames.js';
import type { FeedHistory } from './history.js';

const ACCOUNT = '00000000-0000-4000-8000-000000000001';
const ev = (seq: number): AccountEvent => ({
  seq,
  eventId: `e${seq}`,
  data: {
    event_id: `e${seq}`,
    event_type: 'order.accepted',
    seq,
    order_id: `o${seq}`,
    client_order_id: `c${seq}`,
    symbol: 'AAPL',
    side: 'buy',
    order_type: 'limit',
    time_in_force: 'DAY',
    quantity: '1',
    price: '18500',
    ts: '2026-01-01T00:00:00.000Z',
  },
});

/** An outbox in memory: `committed` events are readable; reads can be held to interleave live events. */
function fakeHistory(committed: number) {
  let last = committed;
  let gate: Promise<void> | undefined;
  const reads: number[] = [];
  const history: FeedHistory = {
    async eventsAfter(_account, after, limit) {
      reads.push(after);
      if (gate) await gate;
      const out: AccountEvent[] = [];
      for (let s = after + 1; s <= last && out.length < limit; s++) out.push(ev(s));
      return out;
    },
    lastSeq: async () => last,
    lastSeqs: async () => new Map([[ACCOUNT, last]]),
    isListed: async () => true,
    bookSnapshot: async () => {
      throw new Error('unused');
    },
  };
  return {
    history,
    reads,
    commit: (n = 1) => (last += n),
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

function sink() {
  const sent: number[] = [];
  const notes: string[] = [];
  const s: AccountSink = {
    send: (e) => (sent.push(e.seq), true),
    writable: async () => true,
    historyGap: (from, to) => notes.push(`gap ${from}-${to}`),
    sinceAhead: (since, last) => notes.push(`ahead ${since}>${last}`),
    duplicate: () => notes.push('dup'),
    resync: (cause) => notes.push(`resync ${cause}`),
    fail: (err) => notes.push(`fail ${String(err)}`),
  };
  return { s, sent, notes };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const settle = async () => {
  for (let i = 0; i < 20; i++) await tick();
};

describe('AccountStream', () => {
  it('resumes from since: history first, then the live events buffered meanwhile, without duplicates', async () => {
    const h = fakeHistory(5);
    const { s, sent } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    const release = h.hold();
    const started = stream.start(2);
    await tick();
    // Live events arrive while Postgres is being read: 4 and 5 overlap with history, 6 is new.
    h.commit();
    for (const seq of [4, 5, 6]) stream.onLive(ev(seq));
    release();
    expect(await started).toBe(6);
    expect(sent).toEqual([3, 4, 5, 6]);
    stream.onLive(ev(6));
    stream.onLive(ev(7));
    expect(sent).toEqual([3, 4, 5, 6, 7]);
  });

  it('without since starts at the committed seq and sends nothing old', async () => {
    const h = fakeHistory(9);
    const { s, sent } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    expect(await stream.start(undefined)).toBe(9);
    stream.onLive(ev(9));
    stream.onLive(ev(10));
    expect(sent).toEqual([10]);
  });

  it('fills a gap in the live stream from Postgres before going on', async () => {
    const h = fakeHistory(1);
    const { s, sent, notes } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    await stream.start(0);
    h.commit(3); // 2, 3, 4 committed; pub/sub lost 2 and 3
    stream.onLive(ev(4));
    await settle();
    expect(sent).toEqual([1, 2, 3, 4]);
    expect(notes).toContain('resync gap');
    // Late duplicates of what the gap fill sent are dropped.
    stream.onLive(ev(2));
    stream.onLive(ev(3));
    expect(sent).toEqual([1, 2, 3, 4]);
  });

  it('reordered live events (two relays) come out in seq order', async () => {
    const h = fakeHistory(0);
    const { s, sent } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    await stream.start(0);
    h.commit(3);
    stream.onLive(ev(3));
    stream.onLive(ev(1));
    stream.onLive(ev(2));
    await settle();
    expect(sent).toEqual([1, 2, 3]);
  });

  it('a lost tail is caught by two sweeps', async () => {
    const h = fakeHistory(2);
    const { s, sent, notes } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    await stream.start(2);
    h.commit(2); // 3 and 4 committed, never published
    stream.checkCommitted(4); // first sight: the relay may just be slow
    await settle();
    expect(sent).toEqual([]);
    stream.checkCommitted(4);
    await settle();
    expect(sent).toEqual([3, 4]);
    expect(notes).toContain('resync sweep');
  });

  it('since ahead of the account starts at the committed seq', async () => {
    const h = fakeHistory(3);
    const { s, sent, notes } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    expect(await stream.start(10)).toBe(3);
    stream.onLive(ev(4));
    expect(sent).toEqual([4]);
    expect(notes).toContain('ahead 10>3');
  });

  it('pages through a long history', async () => {
    const h = fakeHistory(1234);
    const { s, sent } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s, { pageSize: 100 });
    expect(await stream.start(0)).toBe(1234);
    expect(sent).toHaveLength(1234);
    expect(sent.every((seq, i) => seq === i + 1)).toBe(true);
    expect(h.reads.length).toBe(13);
  });

  it('an overflowing buffer is dropped and read from Postgres instead', async () => {
    const h = fakeHistory(0);
    const { s, sent } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s, { maxBuffered: 3 });
    const release = h.hold();
    const started = stream.start(0);
    await tick();
    h.commit(10);
    for (let seq = 1; seq <= 10; seq++) stream.onLive(ev(seq));
    release();
    await started;
    await settle();
    expect(sent).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('jumps over pruned history with a note, and goes on in order', async () => {
    const h = fakeHistory(8);
    const { history } = h;
    const all = history.eventsAfter.bind(history);
    history.eventsAfter = (account, after, limit) => all(account, Math.max(after, 4), limit);
    const { s, sent, notes } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    expect(await stream.start(1)).toBe(8);
    expect(sent).toEqual([5, 6, 7, 8]);
    expect(notes).toContain('gap 2-4');
  });

  it('jumps over a pruned tail that no later event reveals, to the committed seq', async () => {
    const h = fakeHistory(8);
    const { history } = h;
    const all = history.eventsAfter.bind(history);
    history.eventsAfter = (account, after, limit) => all(account, Math.max(after, 8), limit);
    const { s, sent, notes } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    expect(await stream.start(1)).toBe(8);
    expect(notes).toEqual(['resync resume', 'gap 2-8']);
    h.commit();
    stream.onLive(ev(9));
    expect(sent).toEqual([9]);
    // The sweeps find the stream at the committed seq: nothing to read again.
    stream.checkCommitted(9);
    stream.checkCommitted(9);
    await settle();
    expect(notes).not.toContain('resync sweep');
  });

  it('a resync before start (Redis came back while subscribing) sends nothing; start then goes on as usual', async () => {
    const h = fakeHistory(5);
    const { s, sent, notes } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    stream.resync('redis_reconnect');
    await settle();
    expect(sent).toEqual([]);
    expect(h.reads).toEqual([]);
    const started = stream.start(3);
    stream.resync('redis_reconnect'); // while start reads the committed seq
    expect(await started).toBe(5);
    await settle();
    expect(sent).toEqual([4, 5]);
    expect(notes).toEqual(['resync resume']);
  });

  it('a Postgres failure fails the stream (the socket closes and the client resumes)', async () => {
    const h = fakeHistory(0);
    h.history.eventsAfter = () => Promise.reject(new Error('db down'));
    const { s, notes } = sink();
    const stream = new AccountStream(ACCOUNT, h.history, s);
    expect(await stream.start(0)).toBeUndefined();
    expect(notes.some((n) => n.startsWith('fail'))).toBe(true);
    expect(stream.closed).toBe(true);
  });
});
