/**
 * The MarketControls workflow with fake activities on a local Temporal dev server: what it promises of
 * the order of the operators' actions, which the integration tests (one operator at a time) cannot show.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import type { ControlActivities } from '../temporal/activities.js';
import { controlUpdate, type ControlAction, type ControlResult } from '../temporal/controls.js';
import { startBundleWorker, temporalBinary } from '../test/saga-env.js';
import { testTool } from '../test/binaries.js';
import { eventually } from '../test/eventually.js';
import type { MarketControls } from './market-controls.js';

const binary = temporalBinary(loadConfig(process.env).BROKERX_TOOLS_DIR);
const temporal = testTool(binary);

describe.skipIf(temporal.skip)(`MarketControls with fake activities${temporal.note}`, () => {
  let env: TestWorkflowEnvironment;
  let stop: (() => Promise<void>) | undefined;
  const taskQueue = `controls-${randomUUID().slice(0, 8)}`;
  /** The actions applied, in the order their writes began and ended. */
  const log: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));

  const activities: ControlActivities = {
    async applyControl({ request }) {
      const what = `${request.action.kind} ${request.reason}`;
      log.push(`begin ${what}`);
      // The first action holds its write until the others wait behind it; each later one takes a while.
      await (log.length === 1 ? held : new Promise((resolve) => setTimeout(resolve, 100)));
      log.push(`end ${what}`);
    },
    async cancelOpenOrders() {
      return { cancelled: [], failed: [] };
    },
  };

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    ({ env, stop } = await startBundleWorker(binary, taskQueue, activities));
  });
  afterAll(async () => await stop?.());

  it('applies actions that wait behind one another one at a time, each after the one before', async () => {
    const handle = await env.client.workflow.start<typeof MarketControls>('MarketControls', {
      taskQueue,
      workflowId: `market-controls-${randomUUID()}`,
      args: [{}],
    });
    const operator = { userId: randomUUID(), email: 'ops@example.com' };
    const control = (action: ControlAction, reason: string): Promise<ControlResult> =>
      handle.executeUpdate(controlUpdate, { args: [{ action, operator, reason }] });
    const accountId = randomUUID();
    const first = control({ kind: 'halt', symbol: 'AAPL', cancelResting: false }, 'first');
    await eventually(async () => expect(log).toEqual(['begin halt first']));
    const later = [
      control({ kind: 'freeze', accountId }, 'second'),
      control({ kind: 'unfreeze', accountId }, 'third'),
    ];
    // Both accepted, so both wait in the workflow for the first to finish.
    await eventually(async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      expect(events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(3);
    });
    release();
    await Promise.all([first, ...later]);
    // No write began before the one before it ended.
    expect(log).toHaveLength(6);
    for (let i = 0; i < log.length; i += 2) expect(log[i + 1]).toBe(log[i]!.replace('begin', 'end'));
    await handle.terminate('test over');
  });
});
