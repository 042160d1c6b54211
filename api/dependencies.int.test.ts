import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../lib/redis.js';
import { freePort } from '../devstack/processes.js';
import { createTestApi, type TestApi } from '../test/helpers.js';
import { startDependencyProbe } from './dependencies.js';

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => api.close());

const gauge = async (metrics: TestApi['deps']['metrics'], dependency: string) =>
  (await metrics.dependencyUp.get()).values.find((v) => v.labels.dependency === dependency)?.value;

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 50));
}

describe('dependency probe', () => {
  it('sets dependency_up on a timer, with no call to /ready', async () => {
    const { metrics } = api.deps;
    metrics.dependencyUp.reset();
    const stop = startDependencyProbe(api.deps, 100);
    try {
      await until(async () => (await gauge(metrics, 'temporal')) === 1);
      for (const d of ['postgres', 'redis', 'temporal']) expect(await gauge(metrics, d), d).toBe(1);
      // Later rounds keep it current: a reset gauge is filled again by the timer.
      metrics.dependencyUp.reset();
      await until(async () => (await gauge(metrics, 'postgres')) === 1);
      expect(await gauge(metrics, 'postgres')).toBe(1);
    } finally {
      stop();
    }
  });

  it('reports an unreachable dependency as 0', async () => {
    const port = await freePort();
    const redis = connectRedis(`redis://127.0.0.1:${port}`, 'test-down');
    redis.on('error', () => undefined);
    const deps = { ...api.deps, redis };
    const stop = startDependencyProbe(deps, 100);
    try {
      await until(async () => (await gauge(deps.metrics, 'redis')) === 0);
      expect(await gauge(deps.metrics, 'redis')).toBe(0);
      expect(await gauge(deps.metrics, 'postgres')).toBe(1);
    } finally {
      stop();
      redis.disconnect();
    }
  });
});
