import { describe, expect, it } from 'vitest';
import { packageOf, summarizeProfile, type CpuProfile } from './profile.js';

describe('packageOf', () => {
  it('names dependencies, Node, native code and repository folders', () => {
    expect(packageOf('file:///r/node_modules/postgres/src/connection.js', '/r')).toBe('postgres');
    expect(packageOf('file:///r/node_modules/@temporalio/worker/lib/worker.js', '/r')).toBe(
      '@temporalio/worker',
    );
    expect(packageOf('node:internal/streams/writable', '/r')).toBe('node:');
    expect(packageOf('', '/r')).toBe('(native)');
    expect(packageOf('file:///r/workers/outbox/relay.ts', '/r')).toBe('workers/outbox');
    expect(packageOf('file:///r/main.ts', '/r')).toBe('main.ts');
  });
});

describe('summarizeProfile', () => {
  const frame = (id: number, functionName: string, url: string) => ({
    id,
    callFrame: { functionName, url, lineNumber: 9 },
  });
  const profile: CpuProfile = {
    nodes: [
      frame(1, '(idle)', ''),
      frame(2, 'claim', 'file:///r/db/queries/outbox.ts'),
      frame(3, 'write', 'file:///r/node_modules/postgres/src/connection.js'),
    ],
    startTime: 0,
    // A sample every 1 ms: 2, 2 (its first 2 ms), then 3, 3, 1 (idle), 3
    samples: [2, 2, 3, 3, 1, 3],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000],
  };

  it('shares the busy time by package and by function, idle left out', () => {
    const s = summarizeProfile(profile, { root: '/r' });
    expect(s.busyMs).toBe(5);
    expect(s.byPackage).toEqual([
      ['postgres', 0.6],
      ['db/queries', 0.4],
    ]);
    expect(s.byFunction[0]).toEqual(['write postgres:10', 0.6]);
  });

  it('drops the samples of the first skipMs', () => {
    const s = summarizeProfile(profile, { root: '/r', skipMs: 2 });
    expect(s.busyMs).toBe(3);
    expect(s.byPackage).toEqual([['postgres', 1]]);
  });
});
