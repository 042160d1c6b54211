import { describe, expect, it } from 'vitest';
import {
  clientComponent,
  CounterAccount,
  ioRun,
  ioTable,
  parseIoTotals,
  postgresTicksByClient,
  type IoTotals,
} from './io-counts.js';

const totals = (n: number) => ({
  postgres_statements: 10 * n,
  temporal_calls: n,
  redis_commands: 0,
  redis_publishes: 2 * n,
  mails: 0,
  postgres_ms: 0,
});

describe('I/O counts of a benchmark run', () => {
  it('parse the app_io_operations samples of a /metrics page, none when the process does not count', () => {
    const page = [
      '# HELP app_io_operations I/O operations',
      'app_io_operations{kind="postgres_statements",process="worker-trading",instance_id="t-1"} 42',
      'app_io_operations{kind="mails",process="worker-trading",instance_id="t-1"} 3',
      'process_cpu_seconds_total 1.5',
    ].join('\n');
    expect(parseIoTotals(page)).toMatchObject({ postgres_statements: 42, mails: 3, temporal_calls: 0 });
    expect(parseIoTotals('process_cpu_seconds_total 1.5\n')).toBeUndefined();
  });

  it('divide the difference of two readings by the accepted requests, per component', () => {
    const before: IoTotals = new Map([['api', totals(1)]]);
    const after: IoTotals = new Map([['api', totals(11)]]);
    // Postgres ticks (10 ms each) by backend: one went on (+30), one closed meanwhile (left out), one opened (20 whole).
    const run = ioRun(
      'orders',
      10,
      {
        totals: before,
        postgres: new Map([
          ['api#1', 100],
          ['api#2', 50],
        ]),
      },
      {
        totals: after,
        postgres: new Map([
          ['api#1', 130],
          ['api#3', 20],
        ]),
      },
    );
    expect(run.perRequest.get('api')).toMatchObject({
      postgres_statements: 10,
      temporal_calls: 1,
      postgres_ms: 50,
    });
    expect(ioTable([run]).join('\n')).toContain(
      '| orders | api | 10.00 | 1.00 | 0.00 | 2.00 | 0.00 | 50.00 |',
    );
  });

  it("tell a Postgres backend's component by its connection's application_name", async () => {
    const components = ['api', 'trading', 'matching', 'outbox'];
    expect(clientComponent('brokerx-matching-1-shard-0', 'brokerx-', components)).toBe('matching');
    expect(clientComponent('brokerx-trading-2', 'brokerx-', components)).toBe('trading');
    expect(clientComponent('bench', 'brokerx-', components)).toBeUndefined();
    expect(clientComponent('brokerx-temporal', 'brokerx-', components)).toBeUndefined();
    const ticks = await postgresTicksByClient(
      async () => [
        { pid: process.pid, application_name: 'brokerx-api-1' },
        { pid: process.pid, application_name: null },
      ],
      'brokerx-',
      components,
    );
    expect([...ticks.keys()]).toEqual([`api#${process.pid}`]);
    expect(ticks.get(`api#${process.pid}`)).toBeGreaterThanOrEqual(0);
  });
});

describe('an account of counters read around a step', () => {
  it('keeps what the step added, per accepted request; nothing when a reading finds no counters', async () => {
    const readings = [10, 40, undefined, 5];
    const account = new CounterAccount(
      async () => readings.shift(),
      (label, ok, before: number, after: number) => ({ label, ok, perRequest: (after - before) / ok }),
    );
    expect(await account.measure(async () => ({ label: 'run', ok: 3 }))).toEqual({ label: 'run', ok: 3 });
    await account.measure(async () => ({ label: 'unread', ok: 1 }));
    expect(account.runs).toEqual([{ label: 'run', ok: 3, perRequest: 10 }]);
  });
});
