/**
 * The Temporal SDK metrics the docs name (`temporal_...` in README.md and docs/, ADRs and benchmark
 * results aside) are ones the SDK serves. The runtime is installed as the workers install it
 * (lib/temporal-runtime.ts with SDK_METRICS_PORT), a worker on a local dev server runs a workflow task
 * and an activity task of MarketControls (a fake activity), then the SDK's metrics page is read.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../devstack/processes.js';
import { loadConfig } from '../lib/config.js';
import { IO_KINDS } from '../lib/io-counts.js';
import { createLogger } from '../lib/logger.js';
import { installRuntime } from '../lib/temporal-runtime.js';
import type { ControlActivities } from '../temporal/activities.js';
import { controlUpdate } from '../temporal/controls.js';
import type { MarketControls } from '../workflows/market-controls.js';
import { testTool } from './binaries.js';
import { eventually } from './eventually.js';
import { startBundleWorker, temporalBinary } from './saga-env.js';

const ROOT = resolve(import.meta.dirname, '..');
const temporal = testTool(temporalBinary(loadConfig(process.env).BROKERX_TOOLS_DIR));

/** The `temporal_` names the docs quote, but for the kinds of `app_io_operations` (`temporal_calls`). */
function documented(): string[] {
  const docs = (readdirSync(join(ROOT, 'docs'), { recursive: true }) as string[])
    .filter((f) => f.endsWith('.md') && !/^(adr|benchmarks)\//.test(f))
    .map((f) => join('docs', f));
  const names = ['README.md', ...docs].flatMap((f) =>
    [...readFileSync(join(ROOT, f), 'utf8').matchAll(/`(temporal_\w+)`/g)].map((m) => m[1]!),
  );
  return [...new Set(names)].filter((n) => !(IO_KINDS as readonly string[]).includes(n));
}

describe.skipIf(temporal.skip)(`the SDK metrics the docs name${temporal.note}`, () => {
  let port: number;
  let env: TestWorkflowEnvironment;
  let stop: (() => Promise<void>) | undefined;
  const taskQueue = `sdk-metrics-${randomUUID().slice(0, 8)}`;
  const activities: ControlActivities = {
    async applyControl() {},
    async cancelOpenOrders() {
      return { cancelled: [], failed: [] };
    },
  };

  beforeAll(async () => {
    port = await freePort();
    installRuntime({
      logger: createLogger('silent'),
      logLevel: 'error',
      service: 'test',
      instance: 'sdk-metrics',
      sdkMetricsPort: port,
    });
    ({ env, stop } = await startBundleWorker(temporal.path(), taskQueue, activities));
  });
  afterAll(async () => await stop?.());

  it('are served by the SDK once a worker ran a workflow task and an activity', async () => {
    const handle = await env.client.workflow.start<typeof MarketControls>('MarketControls', {
      taskQueue,
      workflowId: `market-controls-${randomUUID()}`,
      args: [{}],
    });
    const operator = { userId: randomUUID(), email: 'ops@example.com' };
    const action = { kind: 'halt', symbol: 'AAPL', cancelResting: false } as const;
    await handle.executeUpdate(controlUpdate, { args: [{ action, operator, reason: 'metrics' }] });
    await handle.terminate('test over');

    const names = documented();
    expect(names.length).toBeGreaterThan(2);
    await eventually(async () => {
      const page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const served = new Set([...page.matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1]!));
      expect(names.filter((n) => !served.has(n))).toEqual([]);
    });
  });
});
