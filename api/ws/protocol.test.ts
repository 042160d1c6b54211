import { describe, expect, it } from 'vitest';
import { accountFrame, toAccountEvent, toMarketUpdate, quoteFrame, tradeFrame } from './frames.js';
import { parseClientMessage } from './protocol.js';
import { textFrame } from './wire.js';

describe('client messages', () => {
  it('accepts the documented operations', () => {
    expect(parseClientMessage('{"op":"subscribe","channel":"executions","since":4,"id":1}')).toEqual({
      ok: true,
      message: { op: 'subscribe', id: 1, channel: 'executions', since: 4 },
    });
    expect(parseClientMessage('{"op":"subscribe","channel":"quotes","symbol":" aapl "}')).toEqual({
      ok: true,
      message: { op: 'subscribe', id: undefined, channel: 'quotes', symbol: 'AAPL' },
    });
    expect(parseClientMessage('{"op":"unsubscribe","channel":"executions"}').ok).toBe(true);
    expect(parseClientMessage('{"op":"ping","id":"p1"}')).toEqual({
      ok: true,
      message: { op: 'ping', id: 'p1' },
    });
    expect(parseClientMessage('{"op":"auth","token":"abc"}').ok).toBe(true);
  });

  it('refuses the rest with a message and the request id', () => {
    const bad: [string, RegExp][] = [
      ['not json', /JSON/],
      ['{"op":"shout"}', /op/],
      ['{"op":"subscribe"}', /channel/],
      ['{"op":"subscribe","channel":"quotes"}', /symbol/],
      ['{"op":"subscribe","channel":"quotes","symbol":"AAPL","since":1}', /since/],
      ['{"op":"subscribe","channel":"executions","symbol":"AAPL"}', /symbol/],
      ['{"op":"subscribe","channel":"executions","since":-1}', /since/],
      ['{"op":"subscribe","channel":"trades","symbol":"no way"}', /ticker/],
      ['{"op":"auth"}', /token/],
      ['{"op":"ping","extra":1}', /extra|Unrecognized/i],
    ];
    for (const [text, why] of bad) {
      const r = parseClientMessage(text);
      expect(r.ok, text).toBe(false);
      if (!r.ok) expect(r.message, text).toMatch(why);
    }
    const r = parseClientMessage('{"op":"subscribe","id":"x7"}');
    expect(r.ok === false && r.id).toBe('x7');
  });
});

describe('frames', () => {
  it('turn a relayed execution report into an execution frame (cents to dollars, strings to integers)', () => {
    const e = toAccountEvent({
      event_id: 'e1',
      event_type: 'execution.report',
      seq: 7,
      exec_type: 'partial_fill',
      order_id: 'o1',
      client_order_id: 'c1',
      workflow_id: 'wf',
      symbol: 'AAPL',
      side: 'buy',
      order_type: 'limit',
      time_in_force: 'GTC',
      status: 'partially_filled',
      quantity: '10',
      price: '19150',
      fill_id: 't1',
      fill_qty: '4',
      fill_price: '19000',
      cum_qty: '4',
      leaves_qty: '6',
      reserved_amount: '114900',
      reject_reason: null,
      ts: '2026-01-01T00:00:00.000Z',
    });
    expect(e).toBeDefined();
    expect(accountFrame(e!)).toEqual({
      type: 'execution',
      seq: 7,
      event_id: 'e1',
      exec_type: 'partial_fill',
      order_id: 'o1',
      client_order_id: 'c1',
      symbol: 'AAPL',
      side: 'buy',
      order_type: 'limit',
      time_in_force: 'GTC',
      status: 'partially_filled',
      quantity: 10,
      price: 191.5,
      // An event from before stop orders carries neither field: null in the frame.
      stop_price: null,
      triggered_at: null,
      fill_id: 't1',
      fill_qty: 4,
      fill_price: 190,
      cum_qty: 4,
      leaves_qty: 6,
      reject_reason: null,
      ts: '2026-01-01T00:00:00.000Z',
    });
    const triggered = toAccountEvent({
      ...(e!.data as unknown as Record<string, unknown>),
      seq: 8,
      exec_type: 'triggered',
      order_type: 'stop',
      status: 'working',
      price: null,
      stop_price: '18900',
      triggered_at: '2026-01-01T00:00:01.000Z',
    });
    expect(accountFrame(triggered!)).toMatchObject({
      exec_type: 'triggered',
      order_type: 'stop',
      price: null,
      stop_price: 189,
      triggered_at: '2026-01-01T00:00:01.000Z',
    });
    expect(toAccountEvent({ event_id: 'x', event_type: 'execution.report' })).toBeUndefined();
  });

  it('turn an accepted stop order into an order_accepted frame with its stop price', () => {
    const accepted = toAccountEvent({
      seq: 3,
      event_id: 'a1',
      event_type: 'order.accepted',
      order_id: 'o2',
      client_order_id: 'c2',
      symbol: 'AAPL',
      side: 'sell',
      order_type: 'stop_limit',
      time_in_force: 'DAY',
      quantity: '5',
      price: '18850',
      stop_price: '18900',
      ts: '2026-01-01T00:00:00.000Z',
    });
    expect(accountFrame(accepted!)).toEqual({
      type: 'order_accepted',
      seq: 3,
      event_id: 'a1',
      order_id: 'o2',
      client_order_id: 'c2',
      symbol: 'AAPL',
      side: 'sell',
      order_type: 'stop_limit',
      time_in_force: 'DAY',
      stop_price: 189,
      quantity: 5,
      price: 188.5,
      ts: '2026-01-01T00:00:00.000Z',
    });
  });

  it('turn a market update into quote and trade frames', () => {
    const m = toMarketUpdate({
      symbol: 'AAPL',
      event_id: 'm1',
      ts: '2026-01-01T00:00:00.000Z',
      quote: { bid: { price: 18990, qty: 5 }, ask: null },
      depth: { bids: [{ price: 18990, qty: 5, orders: 1 }], asks: [] },
      trades: [{ price: 19000, qty: 2, ts: Date.parse('2026-01-01T00:00:00.000Z'), seq: 12 }],
    });
    expect(m).toBeDefined();
    expect(quoteFrame(m!)).toEqual({
      type: 'quote',
      symbol: 'AAPL',
      bid: { price: 189.9, quantity: 5 },
      ask: null,
      ts: '2026-01-01T00:00:00.000Z',
      event_id: 'm1',
    });
    expect(tradeFrame(m!, m!.trades[0]!)).toMatchObject({
      type: 'trade',
      price: 190,
      quantity: 2,
      trade_seq: 12,
    });
  });
});

describe('wire', () => {
  it('frames a payload as one unmasked text frame with the shortest length encoding', () => {
    for (const [n, head] of [
      [5, [0x81, 5]],
      [200, [0x81, 126, 0, 200]],
      [70_000, [0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]],
    ] as const) {
      const payload = Buffer.alloc(n, 'a');
      const frame = textFrame(payload);
      expect([...frame.subarray(0, head.length)]).toEqual(head);
      expect(frame.subarray(head.length).equals(payload)).toBe(true);
    }
  });
});
