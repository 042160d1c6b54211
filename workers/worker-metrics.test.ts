import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { COMPENSATION_STEPS } from '../temporal/contracts.js';
import { createSagaMetrics } from './worker-metrics.js';

describe('createSagaMetrics', () => {
  it('exports every compensation outcome and ACK status at 0 before the first saga, so increase() sees the first', async () => {
    const registry = new Registry();
    const metrics = createSagaMetrics(registry);
    const text = await registry.metrics();
    for (const step of COMPENSATION_STEPS)
      for (const outcome of ['ok', 'failed'])
        expect(text).toContain(`saga_compensations_total{step="${step}",outcome="${outcome}"} 0\n`);
    expect(text).toContain('saga_acked_total{status="working"} 0\n');
    expect(text).toContain('saga_acked_total{status="rejected"} 0\n');

    metrics.compensations.inc({ step: 'releaseReservation', outcome: 'failed' });
    expect(await registry.metrics()).toContain(
      'saga_compensations_total{step="releaseReservation",outcome="failed"} 1\n',
    );
  });
});
