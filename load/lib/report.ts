/**
 * The benchmarks' markdown reports: the machine line, number formats, tables, the targets table (with
 * e2e's fill-to-client target), and where a report is written (docs/benchmarks/<name>.md).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nearestRankOf } from './percentiles.js';

/** `AMD EPYC 7B13, 2 cores, 24 GiB`: the CPU model, the cores and the memory of this machine. */
export function machineSummary(): string {
  const cpu = cpus();
  return `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`;
}

/** `1,234,567` or, with digits, `1,234.57` (en-US grouping). */
export function formatNumber(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A column's title, right-aligned when it ends with `>` (`'ops/s>'`). */
export type Column = string;

/** A markdown table: the header, the alignment row and one line per row. */
export function markdownTable(
  columns: readonly Column[],
  rows: readonly (readonly (string | number)[])[],
): string[] {
  const right = columns.map((c) => c.endsWith('>'));
  const titles = columns.map((c, i) => (right[i] ? c.slice(0, -1) : c));
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(titles), line(right.map((r) => (r ? '---:' : '---'))), ...rows.map(line)];
}

export interface Target {
  what: string;
  /** What was measured, as text. */
  value: string;
  met: boolean;
}

/** The targets table every report ends its results with: target, measured, met (a miss in bold). */
export function targetsTable(targets: readonly Target[]): string[] {
  return markdownTable(
    ['target', 'measured', 'met'],
    targets.map((t) => [t.what, t.value, t.met ? 'yes' : '**no**']),
  );
}

/**
 * The fill-to-client target (e2e): p99 under 100 ms over the fills of the constant-rate steps within
 * capacity (`within`, ms), the step past capacity's reported beside it. A machine slow enough that the
 * first step is already past capacity leaves nothing to judge: not met, and said so.
 */
export function fillToClientTarget(within: readonly number[], pastCapacity: readonly number[]): Target {
  const pct = (xs: readonly number[], p: number) => nearestRankOf(xs, p / 100);
  return {
    what: 'fill-to-client latency p99 < 100 ms (constant-rate steps within capacity)',
    met: within.length > 0 && pct(within, 99) < 100,
    value:
      (within.length > 0
        ? `p50 ${pct(within, 50)} ms, p99 ${pct(within, 99)} ms over ${within.length} fills`
        : 'no step within capacity') +
      (pastCapacity.length > 0
        ? ` (the step past capacity: p99 ${pct(pastCapacity, 99)} ms over ${pastCapacity.length})`
        : ''),
  };
}

/** One line per target for the console: `MET     what: value`. */
export function targetLines(targets: readonly Target[]): string[] {
  return targets.map((t) => `${t.met ? 'MET    ' : 'NOT MET'} ${t.what}: ${t.value}`);
}

export const BENCHMARKS_DIR = fileURLToPath(new URL('../../docs/benchmarks/', import.meta.url));

/** Write docs/benchmarks/<file> and answer its path. */
export function writeBenchmarkReport(file: string, markdown: string, dir = BENCHMARKS_DIR): string {
  const out = join(dir, file);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, markdown);
  return out;
}
