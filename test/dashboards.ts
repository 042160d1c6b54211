/**
 * The Grafana dashboards as data, and the metric names a PromQL expression selects: shared by the
 * static check (test/compose.test.ts) and the live one (test/dashboards.int.test.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/** The metric names an expression selects (label matchers, ranges and label lists removed). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = stripped.slice(m.index + m[0].length).trimStart();
    if (rest.startsWith('(') || PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

export interface Panel {
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: { expr?: string }[];
  panels?: Panel[];
}
export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
}
export const DASHBOARDS = ['golden-signals', 'trading-saga', 'outbox-feed', 'matching', 'load-balancer'];
export const dashboardDir = 'ops/grafana/dashboards';
export const dashboards: Record<string, Dashboard> = Object.fromEntries(
  readdirSync(join(root, dashboardDir))
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f.replace(/\.json$/, ''), JSON.parse(read(`${dashboardDir}/${f}`)) as Dashboard]),
);
export const panelsOf = (d: Dashboard) =>
  d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
export const dashboardExprs = () =>
  Object.values(dashboards).flatMap((d) =>
    panelsOf(d).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')),
  );
