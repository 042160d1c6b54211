import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  countIo,
  enableIoCounts,
  ioCountingInterceptors,
  ioCountsEnabled,
  ioTotals,
  registerIoCounts,
} from './io-counts.js';

describe('I/O counts', () => {
  it('are off by default: nothing counted, no interceptors, no metric', async () => {
    expect(ioCountsEnabled()).toBe(false);
    countIo('mails');
    expect(ioTotals().mails).toBe(0);
    expect(ioCountingInterceptors()).toBeUndefined();
    const registry = new Registry();
    registerIoCounts(registry);
    expect(await registry.metrics()).not.toContain('app_io_operations');
  });

  it('once enabled, count by kind, serve the totals and count Temporal client calls', async () => {
    enableIoCounts();
    countIo('postgres_statements', 2);
    countIo('mails');
    const registry = new Registry();
    registerIoCounts(registry);
    const text = await registry.metrics();
    expect(text).toContain('app_io_operations{kind="postgres_statements"} 2');
    expect(text).toContain('app_io_operations{kind="mails"} 1');
    const [interceptor] = ioCountingInterceptors()!.workflow;
    await interceptor!.signal!({} as never, () => Promise.resolve());
    expect(ioTotals().temporal_calls).toBe(1);
  });
});
