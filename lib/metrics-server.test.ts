import { describe, expect, it } from 'vitest';
import { processRegistry } from './metrics-server.js';

describe('processRegistry', () => {
  it("labels every series with the process and its instance, and carries Node's default metrics", async () => {
    const registry = processRegistry('worker-outbox', 'outbox-2');
    const text = await registry.metrics();
    expect(text).toMatch(
      /^nodejs_eventloop_lag_p99_seconds\{process="worker-outbox",instance_id="outbox-2"\} /m,
    );
    expect(text).toMatch(/^process_cpu_seconds_total\{process="worker-outbox",instance_id="outbox-2"\} /m);
  });
});
