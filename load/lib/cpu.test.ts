import { describe, expect, it } from 'vitest';
import {
  addTicks,
  CpuAccount,
  cpuMsSince,
  cpuRun,
  cpuTable,
  cpuTicks,
  postgresDatabase,
  type Ticks,
} from './cpu.js';

describe('cpuRun and cpuTable', () => {
  it('turns ticks (1/100 s) into milliseconds per accepted request', () => {
    const run = cpuRun(
      'orders',
      4,
      new Map([
        ['api', 2],
        ['postgres', 1],
      ]),
    );
    expect(run.perRequest).toEqual(
      new Map([
        ['api', 5],
        ['postgres', 2.5],
      ]),
    );
    expect(cpuRun('none', 0, new Map([['api', 1]])).perRequest.get('api')).toBe(10);
  });

  it('tables the components asked for and totals all of them', () => {
    const run = cpuRun(
      'orders',
      4,
      new Map([
        ['api', 2],
        ['postgres', 1],
        ['redis', 0.4],
      ]),
    );
    expect(cpuTable([run], ['api', 'temporal'])).toEqual([
      '| run | api | temporal | total |',
      '| --- | --- | --- | --- |',
      '| orders | 5.0 | 0.0 | 8.5 |',
    ]);
  });
});

describe('addTicks', () => {
  it('adds what each component spent between two readings, over its processes', () => {
    const into = new Map([['api', 1]]);
    addTicks(
      into,
      new Map([
        ['api#11', 10],
        ['api#12', 5],
      ]),
      new Map([
        ['api#11', 13],
        ['api#12', 6],
        ['redis#20', 2],
      ]),
    );
    expect(into).toEqual(
      new Map([
        ['api', 5],
        ['redis', 2],
      ]),
    );
  });

  it('counts a process that started meanwhile whole and leaves one that ended out, never negative', () => {
    const into: Ticks = new Map();
    addTicks(
      into,
      new Map([
        ['postgres#30', 400],
        ['postgres#31', 50],
      ]),
      new Map([
        ['postgres#31', 60],
        ['postgres#32', 7],
      ]),
    );
    expect(into).toEqual(new Map([['postgres', 17]]));
  });
});

describe('CpuAccount', () => {
  it('records the ticks spent during a step against its accepted requests', async () => {
    const readings = [new Map([['api#1', 10]]), new Map([['api#1', 30]])];
    const account = new CpuAccount(() => readings.shift()!);
    const result = await account.measure(async () => ({ label: 'step', ok: 2 }));
    expect(result.label).toBe('step');
    expect(account.runs).toEqual([{ label: 'step', ok: 2, perRequest: new Map([['api', 100]]) }]);
  });
});

describe('reading the CPU', () => {
  it('reads this process from /proc and from process.cpuUsage', () => {
    const start = process.cpuUsage();
    let x = 0;
    for (let i = 0; i < 1e6; i++) x += i;
    expect(x).toBeGreaterThan(0);
    expect(cpuMsSince(start)).toBeGreaterThanOrEqual(0);
    expect(cpuTicks('self')).toBeGreaterThanOrEqual(0);
    expect(cpuTicks(2 ** 30)).toBe(0);
  });
});

describe('postgresDatabase', () => {
  it("reads the database from a backend's process title, and none from the server's own processes", () => {
    expect(
      postgresDatabase('postgres: 15/main: postgres cbench_ab12_brokerx_temporal 127.0.0.1(41234) idle'),
    ).toBe('cbench_ab12_brokerx_temporal');
    expect(postgresDatabase('postgres: postgres brokerx [local] SELECT')).toBe('brokerx');
    expect(postgresDatabase('postgres: 15/main: postgres brokerx ::1(5000) idle in transaction')).toBe(
      'brokerx',
    );
    expect(postgresDatabase('postgres: 15/main: background writer                 ')).toBeUndefined();
    expect(postgresDatabase('postgres: 15/main: checkpointer ')).toBeUndefined();
    expect(
      postgresDatabase('/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main '),
    ).toBeUndefined();
  });
});
