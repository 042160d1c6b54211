import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';

/** A fresh copy of the module: its counting state is the process's, so each test starts from its own. */
async function freshIoCounts() {
  vi.resetModules();
  return import('./io-counts.js');
}

describe('I/O counts', () => {
  it('are off by default: nothing counted, no interceptors, no metric', async () => {
    const { countIo, ioCountingInterceptors, ioCountsEnabled, ioTotals, registerIoCounts } =
      await freshIoCounts();
    expect(ioCountsEnabled()).toBe(false);
    countIo('mails');
    expect(ioTotals().mails).toBe(0);
    expect(ioCountingInterceptors()).toBeUndefined();
    const registry = new Registry();
    registerIoCounts(registry);
    expect(await registry.metrics()).not.toContain('app_io_operations');
  });

  it('once enabled, count by kind, serve the totals and count Temporal client calls', async () => {
    const { countIo, enableIoCounts, ioCountingInterceptors, ioTotals, registerIoCounts } =
      await freshIoCounts();
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
