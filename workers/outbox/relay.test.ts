import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EventType } from '../../temporal/events.js';
import { createRelayMetrics } from './relay.js';

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
