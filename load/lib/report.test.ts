import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  fillToClientTarget,
  formatNumber,
  machineSummary,
  markdownTable,
  targetLines,
  targetsTable,
  writeBenchmarkReport,
} from './report.js';

describe('markdownTable', () => {
  it('writes the header, the alignment row (right for titles ending in >) and the rows', () => {
    expect(
      markdownTable(
        ['run', 'ok/s>', 'p95 ms>'],
        [
          ['a', 1, '2.0'],
          ['b', 3, '4.0'],
        ],
      ),
    ).toEqual(['| run | ok/s | p95 ms |', '| --- | ---: | ---: |', '| a | 1 | 2.0 |', '| b | 3 | 4.0 |']);
  });

  it('writes a table without rows as its header only', () => {
    expect(markdownTable(['a'], [])).toEqual(['| a |', '| --- |']);
  });
});

describe('targets', () => {
  const targets = [
    { what: 'fast', value: '12/s', met: true },
    { what: 'faster', value: '12/s', met: false },
  ];

  it('tables target, measured and met, a miss in bold', () => {
    expect(targetsTable(targets)).toEqual([
      '| target | measured | met |',
      '| --- | --- | --- |',
      '| fast | 12/s | yes |',
      '| faster | 12/s | **no** |',
    ]);
  });

  it('prints one aligned line per target', () => {
    expect(targetLines(targets)).toEqual(['MET     fast: 12/s', 'NOT MET faster: 12/s']);
  });
});

describe('formatNumber', () => {
  it('groups thousands and rounds to the digits asked', () => {
    expect(formatNumber(1234567.4)).toBe('1,234,567');
    expect(formatNumber(1234.5678, 2)).toBe('1,234.57');
    expect(formatNumber(3, 1)).toBe('3.0');
  });
});

describe('machineSummary', () => {
  it('names the cores and the memory', () => {
    expect(machineSummary()).toMatch(/^.+, \d+ cores, \d+ GiB$/);
  });
});

describe('writeBenchmarkReport', () => {
  it('writes the file under the directory, making it, and answers its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'brokerx-report-'));
    try {
      const out = writeBenchmarkReport('x.md', '# X\n', join(dir, 'benchmarks'));
      expect(out).toBe(join(dir, 'benchmarks', 'x.md'));
      expect(readFileSync(out, 'utf8')).toBe('# X\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fillToClientTarget', () => {
  const ms = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);

  it('judges the p99 of the steps within capacity and reports the step past it beside them', () => {
    const met = fillToClientTarget(ms(100, 0), ms(50, 200));
    expect(met).toMatchObject({ met: true });
    expect(met.value).toBe(
      'p50 50 ms, p99 99 ms over 100 fills (the step past capacity: p99 249 ms over 50)',
    );
    const missed = fillToClientTarget(ms(100, 1), []);
    expect(missed.met).toBe(false);
    expect(missed.value).toBe('p50 51 ms, p99 100 ms over 100 fills');
  });

  it('says that no step was within capacity, and does not count the target as met', () => {
    const none = fillToClientTarget([], ms(150, 10));
    expect(none).toMatchObject({ met: false });
    expect(none.value).toBe('no step within capacity (the step past capacity: p99 158 ms over 150)');
    expect(none.value).not.toContain('NaN');
  });
});
