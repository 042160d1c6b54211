/**
 * The MarketControls workflow with fake activities on a local Temporal dev server: what it promises of
 * the order of the operators' actions, which the integration tests (one operator at a time) cannot show,
 * and the size of the state it carries across continue-as-new, whatever the number of accounts.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import type { ControlActivities } from '../temporal/activities.js';
import {
  controlUpdate,
  controlsQuery,
  type ControlAction,
  type ControlResult,
  type MarketControlsState,
  type RiskLimits,
} from '../temporal/controls.js';
import { startBundleWorker, temporalBinary } from '../test/saga-env.js';
import { testTool } from '../test/binaries.js';
import { eventually } from '../test/eventually.js';
import type { MarketControls } from './market-controls.js';

const binary = temporalBinary(loadConfig(process.env).BROKERX_TOOLS_DIR);
const temporal = testTool(binary);

/** Temporal's largest payload (limit.blobSize.error): a larger continue-as-new input terminates the run. */
const PAYLOAD_LIMIT = 2 * 1024 * 1024;

describe.skipIf(temporal.skip)(`MarketControls with fake activities${temporal.note}`, () => {
  let env: TestWorkflowEnvironment;
  let stop: (() => Promise<void>) | undefined;
  const taskQueue = `controls-${randomUUID().slice(0, 8)}`;
  const operator = { userId: randomUUID(), email: 'ops@example.com' };
  /** The workflow whose actions are logged (and the first held); the others' apply at once. */
  const orderedId = `market-controls-${randomUUID()}`;
  /** The actions applied, in the order their writes began and ended. */
  const log: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));

  const activities: ControlActivities = {
    async applyControl({ request, workflowId }) {
      if (workflowId !== orderedId) return;
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
      workflowId: orderedId,
      args: [{}],
    });
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

  it('continues as new with the market-wide state only, however many accounts have limits', async () => {
    // A run as the code before it left one: the limits of every account that has some in its input,
    // about 14,800 accounts' worth, within 1,000 bytes of Temporal's payload limit.
    const limits: RiskLimits = {
      max_order_notional: '5000000',
      max_open_orders: '20',
      max_position: null,
      max_daily_notional: null,
    };
    const legacy = { halted: ['AAPL'], frozen: [randomUUID()], killSwitches: [], limits: {}, actions: 0 };
    const entry = `${JSON.stringify(randomUUID())}:${JSON.stringify(limits)},`.length;
    const accounts = Math.floor((PAYLOAD_LIMIT - 1_000 - JSON.stringify(legacy).length) / entry);
    const state = {
      ...legacy,
      limits: Object.fromEntries(Array.from({ length: accounts }, () => [randomUUID(), limits])),
    } as MarketControlsState;
    const workflowId = `market-controls-${randomUUID()}`;
    const handle = await env.client.workflow.start<typeof MarketControls>('MarketControls', {
      taskQueue,
      workflowId,
      args: [{ state, maxHistoryEvents: 200 }],
    });
    const first = (await handle.describe()).runId;
    // Limits for more accounts, until the history is long enough for the run to continue as new: the
    // state the code before carried grows past the limit by then (a dozen actions or more).
    let actions = 0;
    while ((await handle.describe()).runId === first) {
      await handle.executeUpdate(controlUpdate, {
        args: [{ action: { kind: 'set_limits', accountId: randomUUID(), limits }, operator, reason: 'desk' }],
      });
      actions++;
    }
    expect(actions).toBeGreaterThan(10);
    const previous = await env.client.workflow.getHandle(workflowId, first).describe();
    expect(previous.status.name).toBe('CONTINUED_AS_NEW');
    expect((await handle.describe()).status.name).toBe('RUNNING');
    // The new run's input: the market-wide state, a few dozen bytes, whatever the accounts.
    const started = (await handle.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
    expect(started?.input?.payloads?.[0]?.data?.length).toBeLessThan(200);
    expect(await handle.query(controlsQuery)).toEqual({ halted: ['AAPL'], killSwitches: [], actions });
    await handle.terminate('test over');
  }, 60_000);
});
