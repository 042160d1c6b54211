/**
 * The fast saga tier: TradingSaga's real workflow code on a local Temporal dev server, with fake
 * activities that record every call (test/saga-env.ts). No Postgres, no Redis, no HTTP: what the saga
 * decides, in which order it calls its steps, and what its updates, queries and result say.
 * The whole path (api, real activities, shard engine) stays covered by the *.int.test.ts files.
 */
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import {
  cancelOrderUpdate,
  fillSignal,
  orderClosedSignal,
  orderWorkflowId,
  replaceOrderUpdate,
  stateQuery,
  type FillSignal,
  type SagaState,
  idempotentUpdateId,
  orderTriggeredSignal,
  MAX_KEPT_FILL_IDS,
} from '../temporal/contracts.js';
import type { OrderSnapshot } from '../temporal/activities.js';
import { FAILURE_MESSAGES, FailureType } from '../temporal/failures.js';
import { OrderStatusKey } from '../temporal/search-attributes.js';
import { testTool } from '../test/binaries.js';
import {
  fault,
  startSagaEnv,
  temporalBinary,
  SUGGEST_CONTINUE_AS_NEW_AT,
  type SagaEnv,
} from '../test/saga-env.js';
import { eventually } from '../test/eventually.js';
import { failedActivities, startToCloseTimeouts } from '../test/histories.js';
import { buildWorkflowBundle } from '../workers/trading/bundle.js';
import { retryCompensationsSignal, type TradingSaga } from './trading-saga.js';

const binary = temporalBinary(loadConfig(process.env).BROKERX_TOOLS_DIR);
const temporal = testTool(binary);

const PLACEMENT = ['validateOrder', 'reserveFunds', 'persistOrder', 'submitOrder'];

/** The business failure an update was refused with. */
function failureOf(err: unknown): ApplicationFailure {
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}
const refusal = (update: Promise<unknown>) =>
  update
    .then(
      () => undefined,
      (e: unknown) => e,
    )
    .then(failureOf);

/** The saga's result, once it ended (a saga that keeps running fails the check instead of the test timing out). */
async function ended(handle: WorkflowHandle<typeof TradingSaga>): Promise<SagaState> {
  await eventually(async () => expect((await handle.describe()).status.name).toBe('COMPLETED'));
  return handle.result();
}

/** The saga's history replays on today's workflow code (the decisions behind a patch included). */
let replayBundle: Promise<WorkflowBundleWithSourceMap> | undefined;
async function replays(handle: WorkflowHandle): Promise<void> {
  replayBundle ??= buildWorkflowBundle();
  const history = await handle.fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: await replayBundle }, history, handle.workflowId);
}

describe.skipIf(temporal.skip)(`TradingSaga with fake activities${temporal.note}`, () => {
  let saga: SagaEnv;
  beforeAll(async () => {
    saga = await startSagaEnv(binary);
    replayBundle = buildWorkflowBundle(); // for replays(), built while the first tests run
  });
  afterAll(async () => {
    await saga?.close();
  });

  describe('placement', () => {
    it('runs validate, reserve, persist as local activities, then submits on the shard queue, and ACKs working', async () => {
      const order = saga.order();
      const { ack, handle } = await saga.place(order);
      expect(ack).toMatchObject({
        orderId: order.orderId,
        status: 'working',
        lockVersion: 0,
        reservedAmount: '160000',
      });
      expect(saga.steps(order.orderId)).toEqual(PLACEMENT);
      const where = saga.calls(order.orderId).map((c) => [c.step, c.taskQueue, c.local]);
      expect(where).toEqual([
        ['validateOrder', saga.tradingQueue, true],
        ['reserveFunds', saga.tradingQueue, true],
        ['persistOrder', saga.tradingQueue, true],
        ['submitOrder', saga.shardQueue, false],
      ]);
      expect(await handle.query(stateQuery)).toMatchObject({
        status: 'working',
        phase: 'live',
        compensations: [],
      });
      await handle.executeUpdate(cancelOrderUpdate, { args: [{}] });
    });

    it("gives the matching steps the input's start-to-close timeout, 10 s when the input has none", async () => {
      const configured = await saga.place(saga.order(), { matchingStartToCloseMs: 2500 });
      const unset = await saga.place(saga.order());
      for (const { handle } of [configured, unset])
        await handle.executeUpdate(cancelOrderUpdate, { args: [{}] });
      expect(await startToCloseTimeouts(configured.handle)).toEqual([
        ['submitOrder', 2500],
        ['cancelOrder', 2500],
      ]);
      expect(await startToCloseTimeouts(unset.handle)).toEqual([
        ['submitOrder', 10_000],
        ['cancelOrder', 10_000],
      ]);
    });
  });

  describe('compensation', () => {
    // step that fails, how, the steps that run (compensations last, in reverse), the compensations recorded
    const cases: [string, 'fault' | 'InsufficientFunds', string[], string[]][] = [
      ['validateOrder', 'fault', ['validateOrder'], []],
      [
        'reserveFunds',
        'InsufficientFunds',
        ['validateOrder', 'reserveFunds', 'releaseReservation'],
        ['releaseReservation'],
      ],
      [
        'persistOrder',
        'fault',
        ['validateOrder', 'reserveFunds', 'persistOrder', 'releaseReservation'],
        ['releaseReservation'],
      ],
      [
        'submitOrder',
        'fault',
        [...PLACEMENT, 'cancelOrder(compensation)', 'releaseReservation'],
        ['withdrawFromBook', 'releaseReservation'],
      ],
    ];
    for (const [step, how, steps, compensations] of cases) {
      it(`${step} failing (${how}) undoes exactly the steps before it, newest first`, async () => {
        const order = saga.order();
        saga.script(order.orderId, {
          [step]: () => {
            throw how === 'fault'
              ? fault(step)
              : ApplicationFailure.create({
                  type: FailureType.InsufficientFunds,
                  message: FAILURE_MESSAGES.InsufficientFunds,
                  nonRetryable: true,
                });
          },
        });
        const { ack, handle } = await saga.place(order);
        const code = how === 'fault' ? FailureType.ProcessingFailed : FailureType.InsufficientFunds;
        expect(ack).toMatchObject({ status: 'rejected', rejectCode: code });
        expect(saga.steps(order.orderId)).toEqual(steps);
        const state = await handle.result();
        expect(state).toMatchObject({ status: 'rejected', phase: 'done', rejectCode: code, compensations });
        // The release is told why: the business reason, or the generic message after an infrastructure failure.
        for (const c of saga.calls(order.orderId, 'releaseReservation'))
          expect(c.args.reason).toBe(
            how === 'fault' ? FAILURE_MESSAGES.ProcessingFailed : FAILURE_MESSAGES.InsufficientFunds,
          );
        expect(saga.metrics(handle.workflowId, 'compensation')).toEqual(
          compensations.map((name) => [name, 'ok']),
        );
      });
    }

    it('a submit that fails after its order rested and traded: the withdrawn order keeps its trades, not rejected', async () => {
      const order = saga.order();
      saga.script(order.orderId, {
        // The submit rests the order and it trades 4 before the saga hears back; then the step fails
        // (its attempts timed out, say).
        submitOrder: (_args, _attempt, next) => {
          next();
          saga.trade(order.orderId, 't-1', '4');
          throw fault('submitOrder');
        },
        // The shard withdraws the rest of an order that traded as cancelled (shard/operations.ts).
        cancelOrder: (_args, _attempt, next) => ({ ...(next() as OrderSnapshot), status: 'cancelled' }),
      });
      const { ack, handle } = await saga.place(order);
      expect(ack).toMatchObject({
        status: 'cancelled',
        filledQuantity: '4',
        reservedAmount: '0',
        lockVersion: 1,
      });
      expect(ack.rejectCode).toBeUndefined();
      const state = await handle.result();
      expect(state).toMatchObject({
        status: 'cancelled',
        phase: 'done',
        filledQuantity: '4',
        fillIds: ['t-1'],
        compensations: ['withdrawFromBook', 'releaseReservation'],
      });
      expect(state.rejectCode).toBeUndefined();
      expect(state.rejectReason).toBeUndefined();
      expect(saga.steps(order.orderId)).toEqual([
        ...PLACEMENT,
        'cancelOrder(compensation)',
        'releaseReservation',
      ]);
      await replays(handle);
    });

    it('is not cancellable: a workflow cancel during compensation still runs every compensation to the end', async () => {
      const order = saga.order();
      let entered!: () => void;
      const withdrawing = new Promise<void>((r) => (entered = r));
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      saga.script(order.orderId, {
        submitOrder: () => {
          throw fault('submitOrder');
        },
        cancelOrder: async (_args, _attempt, next) => {
          entered();
          await gate;
          return next();
        },
      });
      const handle = await saga.start(order);
      await withdrawing;
      await handle.cancel();
      // The cancel request reached the workflow (a workflow task completed after it) while the withdraw is held.
      await eventually(async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const requested = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
        expect(requested).toBeGreaterThan(-1);
        expect(events.slice(requested).some((e) => e.workflowTaskCompletedEventAttributes)).toBe(true);
      });
      expect(saga.steps(order.orderId)).toEqual([...PLACEMENT, 'cancelOrder(compensation)']);
      release();

      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      // ...but only after both compensations ran, the second one after the cancel arrived.
      expect(saga.steps(order.orderId)).toEqual([
        ...PLACEMENT,
        'cancelOrder(compensation)',
        'releaseReservation',
      ]);
      expect(await handle.query(stateQuery)).toMatchObject({
        status: 'rejected',
        compensations: ['withdrawFromBook', 'releaseReservation'],
      });
    });
  });

  describe('needs_attention', () => {
    it('a compensation that keeps failing answers the client, parks visibly, and finishes on an operator retry', async () => {
      const order = saga.order();
      let broken = true;
      saga.script(order.orderId, {
        submitOrder: () => {
          throw fault('submitOrder');
        },
        releaseReservation: (_args, _attempt, next) => {
          if (broken) throw fault('releaseReservation');
          return next();
        },
      });
      // The client is answered (rejected) although the leftover is not released yet.
      const { ack, handle } = await saga.place(order);
      expect(ack).toMatchObject({ status: 'rejected', rejectCode: FailureType.ProcessingFailed });
      expect(await handle.query(stateQuery)).toMatchObject({
        phase: 'needs_attention',
        compensations: ['withdrawFromBook'],
      });
      await eventually(async () =>
        expect((await handle.describe()).typedSearchAttributes.get(OrderStatusKey)).toBe('needs_attention'),
      );
      await eventually(async () =>
        expect(saga.metrics(handle.workflowId, 'compensation')).toEqual([
          ['withdrawFromBook', 'ok'],
          ['releaseReservation', 'failed'],
        ]),
      );

      // A retry while the cause persists parks it again; the saga waits, it does not spin.
      await handle.signal(retryCompensationsSignal);
      await eventually(async () => expect(saga.calls(order.orderId, 'releaseReservation')).toHaveLength(2));
      expect(await handle.query(stateQuery)).toMatchObject({ phase: 'needs_attention' });
      expect((await handle.describe()).status.name).toBe('RUNNING');

      broken = false;
      await handle.signal(retryCompensationsSignal);
      const state = await handle.result();
      expect(state).toMatchObject({
        status: 'rejected',
        phase: 'done',
        compensations: ['withdrawFromBook', 'releaseReservation'],
      });
      expect(saga.steps(order.orderId)).toEqual([
        ...PLACEMENT,
        'cancelOrder(compensation)',
        'releaseReservation',
        'releaseReservation',
        'releaseReservation',
      ]);
      await eventually(async () =>
        expect((await handle.describe()).typedSearchAttributes.get(OrderStatusKey)).toBe('rejected'),
      );
    });
  });

  describe('fills', () => {
    it('are deduplicated by trade id, including trades the submit already reported; an older fill never rolls back', async () => {
      const order = saga.order();
      // The order trades 4 on arrival: the submit's snapshot carries trade t-1, which the relay signals again later.
      let t1!: FillSignal;
      saga.script(order.orderId, {
        submitOrder: (_args, _attempt, next) => {
          t1 = saga.trade(order.orderId, 't-1', '4');
          return next();
        },
      });
      const { ack, handle } = await saga.place(order);
      expect(ack).toMatchObject({
        status: 'partially_filled',
        filledQuantity: '4',
        reservedAmount: '96000',
      });

      // A redelivered t-1 is ignored by its id, whatever it carries (this copy would complete the order).
      await handle.signal(fillSignal, {
        ...t1,
        filledQuantity: '10',
        status: 'filled',
        reservedAmount: '0',
      });
      const t2 = saga.trade(order.orderId, 't-2', '6');
      const t3 = saga.trade(order.orderId, 't-3', '7');
      // Out of order: t-3 (7 filled) arrives before t-2 (6 filled); t-2 is recorded but does not roll back.
      await handle.signal(fillSignal, t3);
      await handle.signal(fillSignal, t2);
      await handle.signal(fillSignal, t3);
      expect(await handle.query(stateQuery)).toMatchObject({
        status: 'partially_filled',
        filledQuantity: '7',
        reservedAmount: '48000',
        fillIds: ['t-1', 't-3', 't-2'],
      });

      await handle.signal(fillSignal, saga.trade(order.orderId, 't-4', '10'));
      const state = await handle.result();
      expect(state).toMatchObject({
        status: 'filled',
        phase: 'done',
        filledQuantity: '10',
        reservedAmount: '0',
        fillIds: ['t-1', 't-3', 't-2', 't-4'],
      });
      expect(saga.steps(order.orderId)).toEqual(PLACEMENT);
      await eventually(async () =>
        expect(saga.metrics(handle.workflowId, 'completed')).toEqual([['filled']]),
      );
    });
  });

  describe("signals that overtake each other or a step's answer", () => {
    it('a fill signalled after the close of the same commit counts, and the order stays closed', async () => {
      const order = saga.order();
      const { handle } = await saga.place(order);
      // One shard commit: the order filled 4, then self-trade prevention cancelled the rest. The relay
      // signals both at once, and the close lands first.
      const fill = saga.trade(order.orderId, 't-1', '4');
      await handle.signal(orderClosedSignal, {
        orderId: order.orderId,
        status: 'cancelled',
        reservedAmount: '0',
      });
      await handle.signal(fillSignal, fill);
      expect(await ended(handle)).toMatchObject({
        status: 'cancelled',
        phase: 'done',
        filledQuantity: '4',
        reservedAmount: '0',
        fillIds: ['t-1'],
      });
      await replays(handle);
    });

    it("a replace answered after a later trade's fill keeps its version: the next replace goes through", async () => {
      const order = saga.order();
      const { handle } = await saga.place(order);
      let fill!: FillSignal;
      saga.script(order.orderId, {
        replaceOrder: async (_args, _attempt, next) => {
          const replaced = next() as OrderSnapshot; // version 1, nothing filled yet
          // The order trades at its new price, and the relay tells the saga before the replace's answer comes.
          fill = saga.trade(order.orderId, 't-1', '4');
          await handle.signal(fillSignal, fill);
          return replaced;
        },
      });
      const answer = await handle.executeUpdate(replaceOrderUpdate, {
        args: [{ clientVersion: 0, price: '15900' }],
      });
      expect(answer).toMatchObject({ status: 'partially_filled', lockVersion: 1, filledQuantity: '4' });
      expect(await handle.query(stateQuery)).toMatchObject({
        status: 'partially_filled',
        lockVersion: 1,
        price: '15900',
        quantity: '10',
        filledQuantity: '4',
        reservedAmount: fill.reservedAmount,
        fillIds: ['t-1'],
      });
      const next = await handle.executeUpdate(replaceOrderUpdate, {
        args: [{ clientVersion: 1, quantity: '8' }],
      });
      expect(next).toMatchObject({ lockVersion: 2 });
      expect(await handle.query(stateQuery)).toMatchObject({ quantity: '8', filledQuantity: '4' });
      await handle.executeUpdate(cancelOrderUpdate, { args: [{}] });
      await replays(handle);
    });

    it("a fill that a step's answer counted changes nothing when its signal comes after", async () => {
      const order = saga.order();
      const { handle } = await saga.place(order);
      // The resting order trades 4 (the relay's signal is late), then a replace commits: its answer has
      // the filled quantity, and lists only the fills the replace made (none, as the shard's does).
      const late = saga.trade(order.orderId, 't-1', '4');
      saga.script(order.orderId, {
        replaceOrder: (_args, _attempt, next) => ({ ...(next() as OrderSnapshot), fillIds: [] }),
      });
      const answer = await handle.executeUpdate(replaceOrderUpdate, {
        args: [{ clientVersion: 0, quantity: '20' }],
      });
      expect(answer).toMatchObject({ lockVersion: 1, filledQuantity: '4', reservedAmount: '256000' });
      const before = await handle.query(stateQuery);
      // The signal carries the reservation from before the replace (6 left, not 16).
      await handle.signal(fillSignal, late);
      expect(await handle.query(stateQuery)).toEqual({ ...before, fillIds: ['t-1'] });
      await handle.executeUpdate(cancelOrderUpdate, { args: [{}] });
      await replays(handle);
    });

    it("a submit answered after the order's close does not reopen it", async () => {
      const order = saga.order();
      const closed = { orderId: order.orderId, status: 'cancelled' as const, reservedAmount: '0' };
      saga.script(order.orderId, {
        submitOrder: async (_args, _attempt, next) => {
          const working = next() as OrderSnapshot;
          // Before the answer reaches the saga, another order's step cancels this one (self-trade
          // prevention) and the relay says so.
          await saga.env.client.workflow
            .getHandle(orderWorkflowId(order.accountId, order.clientOrderId))
            .signal(orderClosedSignal, closed);
          return working;
        },
      });
      const { ack, handle } = await saga.place(order);
      expect(ack).toMatchObject({ status: 'cancelled', reservedAmount: '0' });
      expect(await ended(handle)).toMatchObject({ status: 'cancelled', phase: 'done' });
      await replays(handle);
    });
  });

  describe('replace and cancel one at a time', () => {
    it('two cancels waiting behind a replace run after it, one after the other', async () => {
      const order = saga.order();
      const { handle } = await saga.place(order);
      let running = 0;
      let most = 0;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      /** A shard step that counts how many run at once. */
      const counted =
        (wait: () => Promise<unknown>) => async (_args: never, _attempt: number, next: () => unknown) => {
          most = Math.max(most, ++running);
          try {
            await wait();
            return next();
          } finally {
            running -= 1;
          }
        };
      saga.script(order.orderId, {
        // The replace holds the shard until both cancels wait behind it; a cancel takes a while.
        replaceOrder: counted(() => held),
        cancelOrder: counted(() => new Promise((resolve) => setTimeout(resolve, 100))),
      });
      const replace = handle.executeUpdate(replaceOrderUpdate, {
        args: [{ clientVersion: 0, quantity: '9' }],
      });
      await eventually(async () => expect(saga.calls(order.orderId, 'replaceOrder')).toHaveLength(1));
      const cancels = [1, 2].map(() =>
        handle.executeUpdate(cancelOrderUpdate, { args: [{}] }).then(
          (ack) => ack.status,
          (err: unknown) => (err as WorkflowUpdateFailedError).cause?.message,
        ),
      );
      // Both accepted, so both wait in the saga for the replace to finish.
      await eventually(async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const accepted = events.map(
          (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name,
        );
        expect(accepted.filter((name) => name === 'cancelOrder')).toHaveLength(2);
      });
      release();
      expect(await replace).toMatchObject({ lockVersion: 1, status: 'working' });
      // The first cancel closes the order; the second finds it closed, without asking the shard.
      expect((await Promise.all(cancels)).sort()).toEqual(['Order is cancelled', 'cancelled']);
      expect(most).toBe(1);
      expect(saga.steps(order.orderId)).toEqual([...PLACEMENT, 'replaceOrder', 'cancelOrder(user)']);
      await replays(handle);
    });
  });

  describe('replace and cancel against lock_version', () => {
    it('applies a replace at the current version and refuses a stale one before calling the shard', async () => {
      const order = saga.order();
      const { handle } = await saga.place(order);

      const replaced = await handle.executeUpdate(replaceOrderUpdate, {
        args: [{ clientVersion: 0, price: '15900' }],
      });
      expect(replaced).toMatchObject({ status: 'working', lockVersion: 1, reservedAmount: '159000' });
      expect(await handle.query(stateQuery)).toMatchObject({
        lockVersion: 1,
        price: '15900',
        quantity: '10',
      });
      const [call] = saga.calls(order.orderId, 'replaceOrder');
      expect(call?.args).toMatchObject({ orderId: order.orderId, clientVersion: 0, price: '15900' });
      expect(call?.args.requestId).toMatch(/^[0-9a-f-]{36}$/); // the shard applies each request once

      // Stale versions are refused by the update validator: no shard call, nothing in the history.
      expect(
        await refusal(
          handle.executeUpdate(replaceOrderUpdate, { args: [{ clientVersion: 0, quantity: '5' }] }),
        ),
      ).toMatchObject({
        type: FailureType.VersionConflict,
        message: 'client_version 0 does not match lock_version 1',
      });
      expect(
        await refusal(handle.executeUpdate(cancelOrderUpdate, { args: [{ clientVersion: 0 }] })),
      ).toMatchObject({ type: FailureType.VersionConflict });
      expect(saga.steps(order.orderId)).toEqual([...PLACEMENT, 'replaceOrder']);
      const history = (await handle.fetchHistory()).events ?? [];
      const accepted = history.map(
        (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name,
      );
      expect(accepted.filter((name) => name === 'replaceOrder')).toHaveLength(1);

      // The shard's own refusal (its version moved on) reaches the caller as the same typed failure.
      saga.script(order.orderId, {
        replaceOrder: (_args, attempt, next) => {
          if (attempt === 2)
            throw ApplicationFailure.create({
              type: FailureType.VersionConflict,
              message: 'client_version 1 does not match lock_version 2',
              nonRetryable: true,
            });
          return next();
        },
      });
      expect(
        await refusal(
          handle.executeUpdate(replaceOrderUpdate, { args: [{ clientVersion: 1, quantity: '5' }] }),
        ),
      ).toMatchObject({ type: FailureType.VersionConflict });
      expect(await handle.query(stateQuery)).toMatchObject({
        status: 'working',
        lockVersion: 1,
        quantity: '10',
      });

      const cancelled = await handle.executeUpdate(cancelOrderUpdate, { args: [{ clientVersion: 1 }] });
      expect(cancelled).toMatchObject({ status: 'cancelled', lockVersion: 2, reservedAmount: '0' });
      expect(saga.calls(order.orderId, 'cancelOrder')[0]?.args).toMatchObject({
        reason: 'user',
        clientVersion: 1,
      });
      expect(await handle.result()).toMatchObject({ status: 'cancelled', phase: 'done' });
    });

    it('two replaces with the same version: exactly one wins, the other is a version conflict, the saga agrees with the shard', async () => {
      const order = saga.order();
      const { handle } = await saga.place(order);
      const outcomes = await Promise.allSettled([
        handle.executeUpdate(replaceOrderUpdate, { args: [{ clientVersion: 0, quantity: '8' }] }),
        handle.executeUpdate(replaceOrderUpdate, { args: [{ clientVersion: 0, quantity: '6' }] }),
      ]);
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(failureOf(lost[0]!.reason)).toMatchObject({ type: FailureType.VersionConflict });
      // Arriving in one workflow task, both pass the saga's check and the shard refuses the second
      // (its lock_version moved); arriving apart, the saga refuses the second itself. Either way:
      const { lockVersion, quantity, reservedAmount } = saga.shardView(order.orderId);
      expect(lockVersion).toBe(1);
      expect(await handle.query(stateQuery)).toMatchObject({ lockVersion, quantity, reservedAmount });
      await handle.executeUpdate(cancelOrderUpdate, { args: [{}] });
    });
  });

  describe('replace and cancel with an Idempotency-Key (the update id)', () => {
    it('a repeated keyed update gets its first answer, also after continue-as-new and after the saga ended', async () => {
      const order = saga.order();
      const { handle } = await saga.place(order);
      const replaceId = idempotentUpdateId('replace', 'k-1', 'a'.repeat(64));
      const first = await handle.executeUpdate(replaceOrderUpdate, {
        args: [{ clientVersion: 0, price: '15900' }],
        updateId: replaceId,
      });
      expect(first).toMatchObject({ lockVersion: 1 });

      // A new run (continue-as-new) no longer has Temporal's own record of the update: the saga's has it.
      const firstRun = (await handle.describe()).runId;
      for (let i = 0; i < SUGGEST_CONTINUE_AS_NEW_AT && (await handle.describe()).runId === firstRun; i += 20)
        await Promise.all(Array.from({ length: 20 }, () => handle.signal(retryCompensationsSignal)));
      await eventually(async () => expect((await handle.describe()).runId).not.toBe(firstRun));
      const latest = saga.env.client.workflow.getHandle<typeof TradingSaga>(handle.workflowId);
      expect(
        await latest.executeUpdate(replaceOrderUpdate, {
          args: [{ clientVersion: 0, price: '15900' }],
          updateId: replaceId,
        }),
      ).toEqual(first);
      // Without the key the same request is stale.
      expect(
        await refusal(
          latest.executeUpdate(replaceOrderUpdate, { args: [{ clientVersion: 0, price: '15900' }] }),
        ),
      ).toMatchObject({ type: FailureType.VersionConflict });

      const cancelId = idempotentUpdateId('cancel', 'k-2', 'b'.repeat(64));
      const cancelled = await latest.executeUpdate(cancelOrderUpdate, { args: [{}], updateId: cancelId });
      expect(cancelled).toMatchObject({ status: 'cancelled', lockVersion: 2 });
      // The ended saga's result keeps the answers (the api replays from it).
      const result = await latest.result();
      expect(result.answers).toEqual({ [replaceId]: first, [cancelId]: cancelled });
      expect(saga.steps(order.orderId)).toEqual([...PLACEMENT, 'replaceOrder', 'cancelOrder(user)']);
    });
  });

  describe('stop orders', () => {
    it('a pending stop becomes working when the relay reports its trigger; a later report changes nothing', async () => {
      const order = saga.order();
      saga.script(order.orderId, {
        submitOrder: (_args, _attempt, next) => ({ ...(next() as OrderSnapshot), status: 'pending_trigger' }),
      });
      const { ack, handle } = await saga.place(order);
      expect(ack.status).toBe('pending_trigger');
      const triggered = {
        orderId: order.orderId,
        status: 'working' as const,
        reservedAmount: '160000',
        triggeredAt: new Date().toISOString(),
      };
      await handle.signal(orderTriggeredSignal, triggered);
      await eventually(async () =>
        expect(await handle.query(stateQuery)).toMatchObject({ status: 'working' }),
      );
      await handle.signal(fillSignal, saga.trade(order.orderId, 't-stop', '10'));
      await handle.signal(orderTriggeredSignal, triggered);
      expect(await handle.result()).toMatchObject({ status: 'filled', fillIds: ['t-stop'] });
    });
  });

  describe('DAY expiry', () => {
    it('expires a DAY order at the session close by a durable timer; a GTC order placed alongside stays working', async () => {
      const day = saga.order({ timeInForce: 'DAY' });
      const gtc = saga.order();
      // The api passes the next session close (SESSION_CLOSE_UTC) as expiresAt; here it is 1.5 s away.
      const expiresAt = new Date(Date.now() + 1500).toISOString();
      const [{ handle }, { handle: gtcHandle }] = await Promise.all([
        saga.place(day, { expiresAt }),
        saga.place(gtc),
      ]);
      const history = (await handle.fetchHistory()).events ?? [];
      expect(history.some((e) => e.timerStartedEventAttributes)).toBe(true);

      const state = await handle.result();
      expect(state).toMatchObject({
        status: 'expired',
        phase: 'done',
        reservedAmount: '0',
        lockVersion: 1,
      });
      expect(saga.steps(day.orderId)).toEqual([...PLACEMENT, 'cancelOrder(expired)']);
      expect(saga.calls(day.orderId, 'cancelOrder')[0]?.args).toEqual({
        orderId: day.orderId,
        reason: 'expired',
      });

      expect(await gtcHandle.query(stateQuery)).toMatchObject({ status: 'working' });
      expect(saga.steps(gtc.orderId)).toEqual(PLACEMENT);
      await gtcHandle.executeUpdate(cancelOrderUpdate, { args: [{}] });
    });

    /** A DAY order closing in 1.5 s whose expiry fails while `away()`; its matching steps give up after 2 s. */
    async function expiryDuringOutage(away: () => boolean) {
      const day = saga.order({ timeInForce: 'DAY' });
      saga.script(day.orderId, {
        cancelOrder: (args: { reason: string }, _attempt, next) => {
          if (args.reason === 'expired' && away()) throw new Error('no shard owner');
          return next();
        },
      });
      const { handle } = await saga.place(day, {
        expiresAt: new Date(Date.now() + 1500).toISOString(),
        matchingStartToCloseMs: 1000,
        matchingScheduleToCloseMs: 2000,
      });
      // The expiry's step ran out of its schedule-to-close: the saga lives on, the order still working.
      await eventually(async () => expect(await failedActivities(handle)).toContain('cancelOrder'));
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(await handle.query(stateQuery)).toMatchObject({ status: 'working', reservedAmount: '160000' });
      return { day, handle };
    }

    it('an expiry no shard answers within the schedule-to-close is tried again until one does: expired, not failed', async () => {
      let away = true;
      const { day, handle } = await expiryDuringOutage(() => away);
      // A replace after the close (its shard answers it) no longer moves the expiry, even to GTC.
      await handle.executeUpdate(replaceOrderUpdate, { args: [{ clientVersion: 0, timeInForce: 'GTC' }] });
      away = false;
      expect(await ended(handle)).toMatchObject({
        status: 'expired',
        phase: 'done',
        reservedAmount: '0',
        lockVersion: 2,
      });
      expect(saga.shardView(day.orderId)).toMatchObject({ status: 'expired', reservedAmount: '0' });
      const after = new Set(saga.steps(day.orderId).slice(PLACEMENT.length));
      expect(after).toEqual(new Set(['cancelOrder(expired)', 'replaceOrder']));
      await replays(handle);
    });

    it("a client's cancel while the expiry waits for its shard goes through, and the order closes once", async () => {
      const { day, handle } = await expiryDuringOutage(() => true);
      expect(await handle.executeUpdate(cancelOrderUpdate, { args: [{}] })).toMatchObject({
        status: 'cancelled',
        reservedAmount: '0',
      });
      expect(await ended(handle)).toMatchObject({ status: 'cancelled', reservedAmount: '0', lockVersion: 1 });
      expect(saga.shardView(day.orderId)).toMatchObject({ status: 'cancelled', lockVersion: 1 });
      expect(saga.steps(day.orderId).filter((s) => s === 'cancelOrder(user)')).toHaveLength(1);
      await replays(handle);
    });
  });

  describe('a replace of the time in force', () => {
    it('moves the expiry: a DAY order made GTC no longer expires, a GTC order made DAY does', async () => {
      const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();
      const day = saga.order({ timeInForce: 'DAY' });
      const gtc = saga.order();
      // The DAY order's close is an hour away: the replace lands before it, however slow the machine.
      const [{ handle: dayHandle }, { handle: gtcHandle }] = await Promise.all([
        saga.place(day, { expiresAt: inMs(3_600_000) }),
        saga.place(gtc),
      ]);
      await dayHandle.executeUpdate(replaceOrderUpdate, { args: [{ clientVersion: 0, timeInForce: 'GTC' }] });
      // The api passes the session close with a replace to DAY; here it comes after the DAY order's.
      await gtcHandle.executeUpdate(replaceOrderUpdate, {
        args: [{ clientVersion: 0, timeInForce: 'DAY', expiresAt: inMs(3000) }],
      });
      expect(await ended(gtcHandle)).toMatchObject({ status: 'expired', lockVersion: 2 });
      expect(saga.steps(gtc.orderId)).toEqual([...PLACEMENT, 'replaceOrder', 'cancelOrder(expired)']);

      // GTC now, the first order has no timer any more: its session-close timer was cancelled by the
      // replace and none started after it; it still works.
      const timers = ((await dayHandle.fetchHistory()).events ?? []).flatMap((e) =>
        e.timerStartedEventAttributes ? ['started'] : e.timerCanceledEventAttributes ? ['canceled'] : [],
      );
      expect(timers).toEqual(['started', 'canceled']);
      expect(await dayHandle.query(stateQuery)).toMatchObject({ status: 'working', lockVersion: 1 });
      expect(saga.steps(day.orderId)).toEqual([...PLACEMENT, 'replaceOrder']);
      await dayHandle.executeUpdate(cancelOrderUpdate, { args: [{}] });
      await replays(dayHandle);
      await replays(gtcHandle);
    });
  });

  describe('continue-as-new', () => {
    it('hands its state to a new run when the history grows, and the new run keeps serving the order', async () => {
      const order = saga.order();
      const { handle } = await saga.place(order);
      await handle.executeUpdate(replaceOrderUpdate, { args: [{ clientVersion: 0, price: '15900' }] });
      const t1 = saga.trade(order.orderId, 't-1', '3');
      await handle.signal(fillSignal, t1);
      const before = await handle.query(stateQuery);
      const firstRun = (await handle.describe()).runId;

      // Harmless signals (no compensation is pending) grow the history past the server's suggestion.
      for (let i = 0; i < SUGGEST_CONTINUE_AS_NEW_AT && (await handle.describe()).runId === firstRun; i += 20)
        await Promise.all(Array.from({ length: 20 }, () => handle.signal(retryCompensationsSignal)));
      await eventually(async () => expect((await handle.describe()).runId).not.toBe(firstRun));

      const latest = saga.env.client.workflow.getHandle(handle.workflowId);
      expect((await latest.describe()).historyLength).toBeLessThan(SUGGEST_CONTINUE_AS_NEW_AT);
      expect(await latest.query(stateQuery)).toEqual({ ...before, phase: 'live' });
      expect(before).toMatchObject({
        status: 'partially_filled',
        lockVersion: 1,
        filledQuantity: '3',
        fillIds: ['t-1'],
      });

      // Dedupe and versions carry over; placement does not run again.
      await latest.signal(fillSignal, {
        ...t1,
        filledQuantity: '10',
        status: 'filled',
        reservedAmount: '0',
      });
      expect(
        await refusal(latest.executeUpdate(cancelOrderUpdate, { args: [{ clientVersion: 0 }] })),
      ).toMatchObject({ type: FailureType.VersionConflict });
      await latest.executeUpdate(cancelOrderUpdate, { args: [{ clientVersion: 1 }] });
      expect(await handle.result()).toMatchObject({
        status: 'cancelled',
        filledQuantity: '3',
        fillIds: ['t-1'],
      });
      expect(saga.steps(order.orderId)).toEqual([...PLACEMENT, 'replaceOrder', 'cancelOrder(user)']);
      expect(saga.metrics(handle.workflowId, 'started')).toHaveLength(1);
    });

    it(
      'keeps the latest fill ids only: a saga past 54,000 fills continues as new, its input small',
      {
        timeout: 120_000,
      },
      async () => {
        const order = saga.order({ quantity: '60000', price: '100' });
        const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
        const fill = (n: number): FillSignal => ({
          fillId: id(n),
          orderId: order.orderId,
          quantity: '1',
          price: '100',
          filledQuantity: String(n),
          status: 'partially_filled',
          reservedAmount: String((60_000 - n) * 100),
        });
        // A run that carries every fill id of its order so far, as sagas from before the bound did: 53,000
        // of them, just under Temporal's 2 MiB payload limit. 1,000 more took such a saga past it.
        const carried = 53_000;
        const handle = await saga.start(order, {
          state: {
            orderId: order.orderId,
            status: 'partially_filled',
            phase: 'live',
            lockVersion: 0,
            quantity: order.quantity,
            price: order.price,
            filledQuantity: String(carried),
            reservedAmount: fill(carried).reservedAmount,
            fillIds: Array.from({ length: carried }, (_, i) => id(i + 1)),
            compensations: [],
          },
        });
        const firstRun = (await handle.describe()).runId;
        const total = carried + 1000;
        for (let n = carried + 1; n <= total; n += 20)
          await Promise.all(Array.from({ length: 20 }, (_, k) => handle.signal(fillSignal, fill(n + k))));

        const latest = saga.env.client.workflow.getHandle<typeof TradingSaga>(handle.workflowId);
        const state = await eventually(async () => {
          expect((await latest.describe()).status.name).toBe('RUNNING');
          const s = await latest.query(stateQuery);
          expect(s.filledQuantity).toBe(String(total));
          return s;
        });
        expect((await latest.describe()).runId).not.toBe(firstRun);
        const started = (await latest.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
        expect(started?.input?.payloads?.[0]?.data?.length).toBeLessThan(100_000);
        // The latest ids, in the order they arrived.
        expect(state.fillIds).toHaveLength(MAX_KEPT_FILL_IDS);
        expect([...state.fillIds].sort()).toEqual(
          Array.from({ length: 1000 }, (_, i) => id(carried + 1 + i)),
        );

        // A recent fill again, whatever it carries (this copy would complete the order): dropped by its id.
        await latest.signal(fillSignal, { ...fill(total), filledQuantity: '60000', status: 'filled' });
        expect(await latest.query(stateQuery)).toEqual(state);
        // An old one, whose id is no longer kept: its quantity is counted, and only its id is recorded.
        await latest.signal(fillSignal, fill(1));
        expect(await latest.query(stateQuery)).toEqual({
          ...state,
          fillIds: [...state.fillIds.slice(1), id(1)],
        });

        await latest.signal(fillSignal, { ...fill(60_000), status: 'filled' });
        expect(await latest.result()).toMatchObject({
          status: 'filled',
          filledQuantity: '60000',
          reservedAmount: '0',
        });
      },
    );
  });
});
