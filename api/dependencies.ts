/**
 * The api's dependencies, checked: Postgres (`SELECT 1`), Redis (`PING`) and Temporal (`GetSystemInfo`),
 * each bounded by a timeout. `/ready` runs the checks on each call; `startDependencyProbe` runs them on a
 * timer so `dependency_up` is current whether or not anything calls `/ready` (the `ApiDependencyDown`
 * alert reads it).
 */
import type { ApiDeps } from './types.js';

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}
export type DependencyChecks = Record<'postgres' | 'redis' | 'temporal', CheckResult>;

/** Run `fn` with a time limit: its outcome and duration, never a rejection (also the kill-switch read). */
export async function timed(fn: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), timeoutMs))),
    ]);
    return { ok: true, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - t0), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** Check every dependency once and record the outcome in `dependency_up`. */
export async function checkDependencies(
  deps: Pick<ApiDeps, 'database' | 'redis' | 'temporal' | 'metrics'>,
  timeoutMs = 2000,
): Promise<DependencyChecks> {
  const [postgres, redis, temporal] = await Promise.all([
    timed(() => deps.database.sql`SELECT 1`, timeoutMs),
    timed(() => deps.redis.ping(), timeoutMs),
    timed(() => deps.temporal.workflowService.getSystemInfo({}), timeoutMs),
  ]);
  const checks = { postgres, redis, temporal };
  for (const [name, r] of Object.entries(checks))
    deps.metrics.dependencyUp.set({ dependency: name }, r.ok ? 1 : 0);
  return checks;
}

/** Run the checks now and then every `intervalMs`, one round at a time; returns the stop function. */
export function startDependencyProbe(
  deps: Pick<ApiDeps, 'database' | 'redis' | 'temporal' | 'metrics'>,
  intervalMs: number,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const round = async () => {
    await checkDependencies(deps);
    if (!stopped) timer = setTimeout(() => void round(), intervalMs).unref();
  };
  void round();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
