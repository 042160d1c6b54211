/**
 * The scenarios of load/k6/, run from Node: the same profiles (load/k6/lib/profiles.ts), flows and SLOs,
 * with autocannon for HTTP and `ws` for the feed. `runScenario` prints the SLOs as PASS/FAIL lines, writes
 * a k6-style JSON summary and answers whether every SLO held.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  applyOverrides,
  formatNumber,
  formatPercent,
  formatThresholds,
  METRICS,
  PROFILES,
  profileSeconds,
  thresholdsFor,
  THINK_SECONDS,
  WS_ORDER_PROFILE,
  WS_SESSION_SECONDS,
  WS_SOCKETS_PER_ACCOUNT,
  type Profile,
  type ScenarioName,
} from '../k6/lib/profiles.js';
import type { LoadEnv } from './env.js';
import { feedCounts, runSubscribers } from './feed.js';
import { orderFlow, readFlow, smokeFlow, type Flow, type FlowDeps } from './flows.js';
import { runFixedRate, runIterations, runRamp, totals, type Driver } from './http.js';
import { Metrics } from './metrics.js';
import { checkServices, references, sessions, warmUp } from './users.js';

const log = (line: string) => console.log(`[load] ${line}`);

/** Prints progress every 5 s while `work` runs. */
async function withProgress<T>(
  metrics: Metrics,
  work: Promise<T>,
  extra: () => string = () => '',
): Promise<T> {
  const t0 = performance.now();
  let before = { ...totals };
  const timer = setInterval(() => {
    const t = (performance.now() - t0) / 1000;
    const rps = (totals.requests - before.requests) / 5;
    const its = (totals.iterations - before.iterations) / 5;
    before = { ...totals };
    log(
      `t=${Math.round(t)}s  ${formatNumber(its)} it/s  ${formatNumber(rps)} req/s  ` +
        `requests ${totals.requests}, failed ${totals.failed}${extra()}`,
    );
  }, 5000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** Drive one HTTP flow with a profile, as k6's executor of that profile would. */
async function drive(driver: Driver, flow: Flow, profile: Profile, think: boolean): Promise<void> {
  const steps = flow.steps.length;
  switch (profile.executor) {
    case 'per-vu-iterations':
      return runIterations(driver, flow, profile.vus, profile.iterations);
    case 'constant-arrival-rate':
      return runFixedRate(driver, flow, {
        rate: profile.rate,
        seconds: profileSeconds(profile),
        maxConnections: profile.maxVUs,
      });
    case 'ramping-vus':
      // A connection is a VU; with think time it runs about one flow per (1 s + think) at most.
      return runRamp(driver, flow, {
        start: profile.startVUs,
        stages: profile.stages,
        seconds: profileSeconds(profile),
        perConnectionRate: Math.max(1, Math.round(steps / (think ? THINK_SECONDS : 1))),
      });
    case 'ramping-arrival-rate':
      // target(t) flows/s: as many connections, each running one flow per second.
      return runRamp(driver, flow, {
        start: profile.startRate,
        stages: profile.stages,
        seconds: profileSeconds(profile),
        perConnectionRate: steps,
      });
    case 'constant-vus':
      throw new Error('constant-vus drives feed subscribers, not HTTP');
  }
}

function describe(profile: Profile): string {
  switch (profile.executor) {
    case 'per-vu-iterations':
      return `${profile.vus} VU x ${profile.iterations} iterations`;
    case 'constant-vus':
      return `${profile.vus} VUs for ${profile.duration}`;
    case 'constant-arrival-rate':
      return `${profile.rate} it/s for ${profile.duration}`;
    case 'ramping-vus':
      return `VUs ${[profile.startVUs, ...profile.stages.map((s) => `${s.target}@${s.duration}`)].join(' -> ')}`;
    case 'ramping-arrival-rate':
      return `it/s ${[profile.startRate, ...profile.stages.map((s) => `${s.target}@${s.duration}`)].join(' -> ')}`;
  }
}

export async function runScenario(scenario: ScenarioName, env: LoadEnv): Promise<boolean> {
  const ep = env.endpoints;
  const profile = applyOverrides(PROFILES[scenario], env.overrides);
  const thresholds = thresholdsFor(scenario, env.instances);
  const metrics = new Metrics();

  log(`${scenario}: ${describe(profile)} against ${ep.api} (Mailpit ${ep.mailpit})`);
  await checkServices(ep);
  const setupStart = performance.now();
  // Tokens must outlive the run: its profile, graceful stops and a margin.
  const users = await sessions(ep, env.users, env.userPrefix, env.userPassword, profileSeconds(profile) + 90);
  const deps: FlowDeps = {
    metrics,
    sessions: users,
    references: await references(ep),
    runId: `nd${Date.now().toString(36)}`,
  };
  if (users[0]) await warmUp(ep, users[0], deps.references, deps.runId);
  log(
    `setup: ${users.length} sessions (${users[0]?.email ?? '-'} ...) in ${formatNumber((performance.now() - setupStart) / 1000)} s`,
  );

  const driver: Driver = { base: ep.api, deps };
  const instanceCounts = new Map<string, number>();
  const started = performance.now();
  switch (scenario) {
    case 'smoke':
      await drive(driver, smokeFlow(deps), profile, false);
      break;
    case 'load':
    case 'spike':
      await withProgress(metrics, drive(driver, orderFlow(deps, scenario === 'spike'), profile, false));
      break;
    case 'stress':
      await withProgress(metrics, drive(driver, orderFlow(deps, true), profile, true));
      break;
    case 'lb':
      driver.onInstance = (instance) => {
        instanceCounts.set(instance, (instanceCounts.get(instance) ?? 0) + 1);
        metrics.check('X-Instance is an expected instance', env.instances.includes(instance));
        for (const id of env.instances)
          metrics.rate(METRICS.instanceShare, instance === id, { instance: id });
      };
      await withProgress(metrics, drive(driver, readFlow(deps), profile, false));
      break;
    case 'ws': {
      if (profile.executor !== 'constant-vus') throw new Error('ws expects a constant-vus profile');
      const orders = applyOverrides(WS_ORDER_PROFILE, {
        duration: env.overrides.duration,
        rate: env.overrides.rate,
      });
      const seconds = profileSeconds(profile);
      const perAccount = Math.ceil(profile.vus / users.length);
      if (perAccount > WS_SOCKETS_PER_ACCOUNT)
        log(
          `warning: ${perAccount} sockets per account exceed the feed's ${WS_SOCKETS_PER_ACCOUNT} per process: raise USERS`,
        );
      log(`ws: ${profile.vus} subscribers, order flow ${describe(orders)}`);
      await withProgress(
        metrics,
        Promise.all([
          runSubscribers({
            url: `${ep.api.replace(/^http/, 'ws')}/ws`,
            sessions: users,
            subscribers: profile.vus,
            seconds,
            sessionSeconds: Math.min(WS_SESSION_SECONDS, seconds),
            metrics,
            log,
          }),
          drive(driver, orderFlow(deps, false), orders, false),
        ]),
        () => `, feed frames ${feedCounts.frames}, account events ${feedCounts.events}`,
      );
      break;
    }
  }
  const runMs = performance.now() - started;

  const results = metrics.evaluate(thresholds);
  const lines = [
    `node ${scenario}`,
    `run ${formatNumber(runMs / 1000)} s: ${metrics.counter('iterations')} iterations ` +
      `(${formatNumber(metrics.counter('iterations') / (runMs / 1000))}/s), ${metrics.counter('http_reqs')} requests, ` +
      `${formatPercent(metrics.values('http_req_failed')?.values.rate ?? 0)} failed`,
  ];
  for (const key of Object.keys(thresholds).filter(
    (k) => k.startsWith('http_req_duration{') || k.startsWith('feed_'),
  )) {
    const v = metrics.values(key)?.values;
    if (v && 'p(95)' in v)
      lines.push(
        `  ${key}: n=${v.count} p50=${formatNumber(v.med ?? 0)} p95=${formatNumber(v['p(95)'] ?? 0)} ` +
          `p99=${formatNumber(v['p(99)'] ?? 0)} max=${formatNumber(v.max ?? 0)} ms`,
      );
  }
  if (instanceCounts.size > 0) {
    const total = [...instanceCounts.values()].reduce((a, b) => a + b, 0);
    const parts = [...instanceCounts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, n]) => `${id || '(no X-Instance)'} ${n} (${formatPercent(n / total)})`);
    lines.push(`  instances: ${parts.join(', ')}`);
  }
  console.log(`\n${lines.join('\n')}\n${formatThresholds(scenario, results)}\n`);

  mkdirSync(env.summaryDir, { recursive: true });
  const file = join(env.summaryDir, `node-${scenario}.json`);
  const summary = {
    tool: 'node',
    scenario,
    profile,
    users: users.length,
    state: { testRunDurationMs: runMs },
    instances: Object.fromEntries(instanceCounts),
    metrics: metrics.summary(results),
  };
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  log(`summary written to ${file}`);
  return results.every((r) => r.ok);
}
