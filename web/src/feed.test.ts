/**
 * The page's feed client against a scripted server (fake sockets, fake timers): each account event
 * reaches the page once and in order across reconnects, the reconnect asks for `since` = the last seq,
 * market channels are subscribed again, and close codes 4003 / 4001 end or refresh the session.
 */
import { describe, expect, it } from 'vitest';
import { LiveFeed, type AccountEvent, type FeedOptions, type FeedState, type SocketLike } from './feed.js';

class FakeSocket implements SocketLike {
  readyState = 1;
  sent: Record<string, unknown>[] = [];
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close() {
    this.readyState = 3;
  }
  frame(f: object) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
}

function harness(extra: Partial<FeedOptions> = {}) {
  const sockets: FakeSocket[] = [];
  const events: AccountEvent[] = [];
  const states: FeedState[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  let token = 'token-1';
  let ended = 0;
  const feed = new LiveFeed({
    url: 'ws://page/ws',
    token: () => token,
    onEvent: (e) => events.push(e),
    onState: (s) => states.push(s),
    onSessionEnded: () => (ended += 1),
    socket: (url, protocols) => {
      const s = new FakeSocket(url, protocols);
      sockets.push(s);
      return s;
    },
    backoffMs: (n) => n * 100,
    setTimer: (fn, ms) => timers.push({ fn, ms }),
    clearTimer: () => {},
    ...extra,
  });
  const exec = (seq: number) => ({ type: 'execution', seq, event_id: `e${seq}`, exec_type: 'fill' });
  return {
    feed,
    sockets,
    events,
    states,
    timers,
    exec,
    ended: () => ended,
    setToken: (t: string) => (token = t),
    last: () => sockets[sockets.length - 1]!,
    /** Run the pending reconnect timer. */
    tick() {
      timers.shift()!.fn();
    },
  };
}

describe('LiveFeed (web/src/feed.ts)', () => {
  it('offers the token as subprotocols and subscribes to executions after welcome', () => {
    const h = harness();
    h.feed.start();
    expect(h.last().url).toBe('ws://page/ws');
    expect(h.last().protocols).toEqual(['bearer', 'token-1']);
    h.last().frame({ type: 'welcome' });
    expect(h.last().sent).toEqual([{ op: 'subscribe', channel: 'executions' }]);
    h.last().frame({ type: 'caught_up', channel: 'executions', seq: 7 });
    expect(h.feed.lastSeq).toBe(7);
    expect(h.states).toEqual(['connecting', 'live']);
  });

  it('resumes after a drop with since = the last seq and passes each event once, in order', () => {
    const h = harness();
    h.feed.start();
    h.last().frame({ type: 'welcome' });
    h.last().frame({ type: 'caught_up', channel: 'executions', seq: 0 });
    h.last().frame(h.exec(1));
    h.last().frame(h.exec(2));
    h.last().drop();
    expect(h.states.at(-1)).toBe('reconnecting');
    expect(h.timers.map((t) => t.ms)).toEqual([100]);
    h.tick();
    expect(h.last().url).toBe('ws://page/ws?since=2');
    h.last().frame({ type: 'welcome' });
    // since in the URL: no second subscribe to executions
    expect(h.last().sent).toEqual([]);
    // the server repeats one it already sent (a relay's duplicate), then the missed ones
    h.last().frame(h.exec(2));
    h.last().frame(h.exec(3));
    h.last().frame(h.exec(4));
    h.last().frame({ type: 'caught_up', channel: 'executions', seq: 4 });
    h.last().frame(h.exec(4));
    h.last().frame(h.exec(5));
    expect(h.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(h.states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
  });

  it('subscribes market channels again after a reconnect, once per channel however many parts want it', () => {
    const h = harness();
    h.feed.start();
    h.last().frame({ type: 'welcome' });
    h.feed.subscribe('trades', 'aapl');
    h.feed.subscribe('trades', 'AAPL');
    h.feed.subscribe('quotes', 'MSFT');
    expect(h.last().sent.slice(1)).toEqual([
      { op: 'subscribe', channel: 'trades', symbol: 'AAPL' },
      { op: 'subscribe', channel: 'quotes', symbol: 'MSFT' },
    ]);
    h.feed.unsubscribe('trades', 'AAPL');
    h.feed.unsubscribe('quotes', 'MSFT');
    expect(h.last().sent.slice(3)).toEqual([{ op: 'unsubscribe', channel: 'quotes', symbol: 'MSFT' }]);
    h.last().frame({ type: 'caught_up', channel: 'executions', seq: 3 });
    h.last().drop(1012);
    h.tick();
    h.last().frame({ type: 'welcome' });
    expect(h.last().sent).toEqual([{ op: 'subscribe', channel: 'trades', symbol: 'AAPL' }]);
  });

  it('waits what the server asks before reconnecting after a `reconnect` frame', () => {
    const h = harness();
    h.feed.start();
    h.last().frame({ type: 'reconnect', reason: 'server_shutdown', retry_after_ms: 1234 });
    h.last().drop(1012);
    expect(h.timers.map((t) => t.ms)).toEqual([1234]);
  });

  it('ends the session on close 4003 and does not reconnect', () => {
    const h = harness();
    h.feed.start();
    h.last().drop(4003);
    expect(h.ended()).toBe(1);
    expect(h.timers).toEqual([]);
    expect(h.feed.state).toBe('offline');
  });

  it('refreshes the token on close 4001 and reconnects with the new one', async () => {
    let refreshed = 0;
    const h = harness({
      refreshToken: async () => {
        refreshed += 1;
        h.setToken('token-2');
      },
    });
    h.feed.start();
    h.last().drop(4001);
    await Promise.resolve();
    await Promise.resolve();
    expect(refreshed).toBe(1);
    h.tick();
    expect(h.last().protocols).toEqual(['bearer', 'token-2']);
  });

  it('stops for good: no reconnect after stop()', () => {
    const h = harness();
    h.feed.start();
    const socket = h.last();
    h.feed.stop();
    socket.drop(1000);
    expect(h.timers).toEqual([]);
    expect(h.sockets).toHaveLength(1);
    expect(h.feed.state).toBe('offline');
  });
});
