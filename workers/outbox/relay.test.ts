import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EventType, type ExecutionReportPayload } from '../../temporal/events.js';
import { createRelayMetrics, fillMail } from './relay.js';

describe('createRelayMetrics', () => {
  it('exports the retry and dead counts of every event type at 0 before the first row, so increase() sees the first', async () => {
    const registry = new Registry();
    const metrics = createRelayMetrics(registry);
    const text = await registry.metrics();
    for (const type of Object.values(EventType))
      for (const outcome of ['retry', 'dead'])
        expect(text).toContain(
          `outbox_events_processed_total{event_type="${type}",outcome="${outcome}"} 0\n`,
        );

    metrics.processed.inc({ event_type: EventType.ExecutionReport, outcome: 'dead' });
    expect(await registry.metrics()).toContain(
      'outbox_events_processed_total{event_type="execution.report",outcome="dead"} 1\n',
    );
  });
});

describe('fillMail', () => {
  const fill = (over: Partial<ExecutionReportPayload>): ExecutionReportPayload => ({
    event_id: 'e',
    exec_type: 'partial_fill',
    order_id: 'o-1',
    client_order_id: 'c-1',
    workflow_id: 'w',
    symbol: 'PENNY',
    side: 'buy',
    order_type: 'limit',
    time_in_force: 'GTC',
    status: 'partially_filled',
    quantity: '1000000',
    price: '5',
    fill_id: 'f-1',
    fill_qty: '400000',
    fill_price: '5',
    cum_qty: '400000',
    leaves_qty: '600000',
    reserved_amount: '30000',
    lock_version: 1,
    reject_reason: null,
    ts: '2026-12-08T14:30:05.123Z',
    notify_saga: false,
    ...over,
  });

  it('says when the trade executed (UTC), what traded and what still rests', () => {
    const mail = fillMail(fill({}));
    expect(mail.subject).toBe('BrokerX fill: BUY 400000 PENNY @ 0.05');
    expect(mail.text).toBe(
      'Your order c-1 (o-1) was partially filled.\n' +
        'BUY 400000 PENNY at 0.05 USD.\n' +
        'Executed: 2026-12-08T14:30:05.123Z (UTC).\n' +
        'Filled so far: 400000, remaining: 600000.\nFill id: f-1\n',
    );
  });

  it('does not call the rest of an order that never rests "remaining": IOC, market and triggered stops', () => {
    for (const over of [
      { time_in_force: 'IOC' as const },
      { order_type: 'market' as const, price: null },
      { order_type: 'stop' as const, price: null },
    ]) {
      const { text } = fillMail(fill(over));
      expect(text).not.toContain('remaining');
      expect(text).toContain(
        'Filled so far: 400000, what is not filled on arrival is cancelled (the order does not rest in the book).',
      );
    }
    expect(fillMail(fill({ order_type: 'stop_limit' })).text).toContain('remaining: 600000.');
  });
});
