/**
 * The k6 scripts (load/k6/) cannot run here (k6 is not installed), so they are checked statically: they
 * type-check against @types/k6, each scenario script has the exports k6 needs, their imports resolve the
 * way k6 resolves them, and the compose `k6` service mounts them and sets the variables they read. The
 * profile and SLO module both k6 and the Node generator use is tested as plain code.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envOf, loadCompose } from '../devstack/compose.js';
import {
  applyOverrides,
  parseExpression,
  PROFILES,
  centsOf,
  priceAt,
  profileSeconds,
  rampTarget,
  ROUTES,
  SCENARIOS,
  seconds,
  SYMBOLS,
  thresholdsFor,
} from '../load/k6/lib/profiles.js';
import { interpolated as percentile } from '../load/lib/percentiles.js';
import { Metrics } from '../load/scenarios/metrics.js';
import { shardOf } from '../matching/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const k6Dir = join(root, 'load/k6');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('k6 scripts', () => {
  it('type-check against @types/k6', { timeout: 120_000 }, () => {
    try {
      execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'load/k6/tsconfig.json', '--noEmit'], {
        cwd: root,
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      expect.fail(`tsc -p load/k6/tsconfig.json failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  });

  it.each(SCENARIOS)(
    '%s.ts exports options with thresholds, setup, a default function and handleSummary',
    (name) => {
      const source = read(`load/k6/${name}.ts`);
      const options = /export const options(?::\s*Options)?\s*=\s*\{([\s\S]*?)\n\};/.exec(source)?.[1];
      expect(options, 'export const options = { ... }').toBeDefined();
      expect(options).toMatch(/\bthresholds:\s*thresholdsFor\('/);
      expect(options).toMatch(/\bscenarios:/);
      expect(source).toMatch(/export default function\s*\(/);
      expect(source).toMatch(/export function setup\(/);
      expect(source).toMatch(
        new RegExp(`export function handleSummary\\([^)]*\\)[^{]*\\{\\s*return summary\\('${name}'`),
      );
    },
  );

  it('import relative modules with the .ts extension (k6 resolves them as written)', () => {
    for (const file of tsFiles(k6Dir).filter((f) => !f.endsWith('.d.ts'))) {
      const specifiers = [...readFileSync(file, 'utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map(
        (m) => m[1] ?? '',
      );
      for (const s of specifiers.filter((x) => x.startsWith('.'))) {
        expect(s, `${file}: ${s}`).toMatch(/\.ts$/);
        expect(existsSync(join(file, '..', s)), `${file}: ${s} exists`).toBe(true);
      }
      for (const s of specifiers.filter((x) => !x.startsWith('.')))
        expect(s, `${file}: ${s}`).toMatch(/^k6(\/|$)/);
    }
  });

  it('share lib/profiles.ts with Node, so it imports nothing', () => {
    expect(read('load/k6/lib/profiles.ts')).not.toMatch(/^import /m);
  });

  it('are what the compose k6 service mounts, with the variables they read', () => {
    const compose = parse(read('docker-compose.yml'), { merge: true }) as {
      services: Record<
        string,
        { volumes?: string[]; environment?: Record<string, string>; command?: string[] }
      >;
    };
    const k6 = compose.services.k6;
    expect(k6).toBeDefined();
    const mount = k6?.volumes?.find((v) => v.startsWith('./load/k6:'));
    expect(mount, 'a ./load/k6 volume').toBeDefined();
    const target = mount?.split(':')[1] ?? '';
    const script = (k6?.command ?? []).find((a) => a.endsWith('.ts')) ?? '';
    expect(script.startsWith(`${target}/`)).toBe(true);
    expect(existsSync(join(k6Dir, script.slice(target.length + 1)))).toBe(true);
    expect(Object.keys(k6?.environment ?? {})).toEqual(expect.arrayContaining(['BASE_URL', 'MAILPIT_URL']));
  });
});

describe('load profiles and SLOs', () => {
  it('give every scenario parseable thresholds on known routes', () => {
    const routes = new Set<string>(Object.values(ROUTES));
    for (const name of SCENARIOS) {
      const thresholds = thresholdsFor(name, ['api-1', 'api-2', 'api-3']);
      expect(thresholds.http_req_failed).toEqual(['rate<0.01']);
      for (const [metric, expressions] of Object.entries(thresholds)) {
        for (const e of expressions) expect(() => parseExpression(e)).not.toThrow();
        const route = /^http_req_duration\{name:(.+)\}$/.exec(metric)?.[1];
        if (route) expect(routes.has(route), route).toBe(true);
      }
    }
    expect(Object.keys(thresholdsFor('lb', ['a', 'b']))).toEqual(
      expect.arrayContaining(['lb_instance_share{instance:a}', 'lb_instance_share{instance:b}']),
    );
  });

  it('parse k6 durations', () => {
    expect(seconds('1m30s')).toBe(90);
    expect(seconds('2h')).toBe(7200);
    expect(seconds('500ms')).toBe(0.5);
    expect(seconds('15')).toBe(15);
    expect(() => seconds('10 minutes')).toThrow();
  });

  it('keep every profile under the 15-minute access token', () => {
    for (const name of SCENARIOS) expect(profileSeconds(PROFILES[name]), name).toBeLessThan(900);
  });

  it('compress a ramp to DURATION and scale its peak to VUS or RATE', () => {
    const stress = applyOverrides(PROFILES.stress, { duration: '20s', vus: 50 });
    expect(profileSeconds(stress)).toBe(20);
    expect(stress.executor === 'ramping-vus' && Math.max(...stress.stages.map((s) => s.target))).toBe(50);
    const spike = applyOverrides(PROFILES.spike, { duration: '15s', rate: 8 });
    expect(profileSeconds(spike)).toBe(15);
    if (spike.executor !== 'ramping-arrival-rate') throw new Error('spike is an arrival-rate ramp');
    expect(Math.max(...spike.stages.map((s) => s.target))).toBe(8);
    expect(Math.min(...spike.stages.map((s) => s.target))).toBeGreaterThanOrEqual(1);
    const load = applyOverrides(PROFILES.load, { duration: '20s', rate: 5 });
    expect(load).toMatchObject({ executor: 'constant-arrival-rate', rate: 5, duration: '20s' });
  });

  it('interpolate ramps linearly, as k6 does', () => {
    const stages = [
      { duration: '10s', target: 100 },
      { duration: '10s', target: 100 },
      { duration: '10s', target: 0 },
    ];
    expect(rampTarget(0, stages, 0)).toBe(0);
    expect(rampTarget(0, stages, 5)).toBe(50);
    expect(rampTarget(0, stages, 15)).toBe(100);
    expect(rampTarget(0, stages, 25)).toBe(50);
    expect(rampTarget(0, stages, 99)).toBe(0);
  });

  it('cycle through every seeded instrument, which cover both matching shards of compose', () => {
    const seeded = readdirSync(join(root, 'db/migrations'))
      .filter((f) => f.endsWith('.sql'))
      .flatMap((f) => [...read(`db/migrations/${f}`).matchAll(/INSERT INTO "instruments"[^;]*/g)])
      .flatMap((insert) => [...insert[0].matchAll(/\('([A-Z.]+)',/g)].map((m) => m[1]!));
    expect([...SYMBOLS].sort()).toEqual(seeded.sort());
    const shards = Number(envOf(loadCompose().services['matching-0']!).MATCHING_SHARDS);
    expect(shards).toBe(2);
    expect(new Set(SYMBOLS.map((s) => shardOf(s, shards)))).toEqual(new Set([0, 1]));
  });

  it('price resting orders in whole cents below the reference, with integers only', () => {
    expect(priceAt(19_000, 8500)).toBe('161.50');
    expect(priceAt(18_507, 8500)).toBe('157.30');
    expect(priceAt(99, 5000)).toBe('0.49');
  });

  it('read amounts as exact cents, refusing anything with more than two decimals', () => {
    expect(centsOf(190)).toBe(19_000);
    expect(centsOf(185.07)).toBe(18_507);
    expect(centsOf('0.5')).toBe(50);
    expect(centsOf(0.29)).toBe(29); // 0.29 * 100 is 28.999999999999996 in floating point
    expect(() => centsOf('1.005')).toThrow();
    expect(() => centsOf(-1)).toThrow();
    expect(centsOf('9999999999999.99')).toBe(999_999_999_999_999);
    expect(() => centsOf('10000000000000.00')).toThrow(); // beyond 13 whole digits
    expect(() => centsOf(1e21)).toThrow(); // String(1e21) is '1e+21'
  });
});

describe('Node metrics', () => {
  it('compute percentiles as k6 does (linear interpolation)', () => {
    expect(percentile([], 95)).toBe(0);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 20, 30, 40, 50], 95)).toBeCloseTo(48);
  });

  it('judge the same threshold strings, per tag, and fail metrics without samples', () => {
    const m = new Metrics();
    for (let i = 1; i <= 100; i++) m.trend('http_req_duration', i, { name: ROUTES.placeOrder });
    m.rate('http_req_failed', false);
    m.rate('http_req_failed', true);
    const results = m.evaluate({
      [`http_req_duration{name:${ROUTES.placeOrder}}`]: ['p(95)<100', 'p(99)<99'],
      http_req_failed: ['rate<0.01'],
      [`http_req_duration{name:${ROUTES.deleteOrder}}`]: ['p(95)<500'],
    });
    expect(results.map((r) => [r.expression, r.ok])).toEqual([
      ['p(95)<100', true],
      ['p(99)<99', false],
      ['rate<0.01', false],
      ['p(95)<500', false],
    ]);
    expect(results[0]?.actual).toBeCloseTo(95.05);
  });
});
