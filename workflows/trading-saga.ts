/**
 * TradingSaga: one workflow per order, from validation to a terminal state.
 *
 *   first workflow task (local activities): validate -> reserve funds and persist order + outbox (one
 *   statement, ADR 0032) -> persist (empty now; kept so that recorded histories replay)
 *   then: submit to the matching shard's task queue -> ACK (the `placeOrder` update returns)
 *   then: live until terminal: fills (signals), replace / cancel (updates), DAY expiry (timer; tried
 *         again until the shard answers; the shard itself expires the order first when its book is
 *         about to trade after the close, ADR 0044), continue-as-new when the history grows.
 *
 * Compensations are pushed before the step they undo runs and run in reverse, non-cancellable. A
 * compensation that keeps failing parks the saga in `needs_attention` (visible in the Web UI through the
 * OrderStatus search attribute and in metrics) until an operator signals `retryCompensations`.
 */
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  currentUpdateInfo,
  defineSignal,
  patched,
  proxyActivities,
  proxyLocalActivities,
  proxySinks,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
  type Sinks,
} from '@temporalio/workflow';
import type { MatchingActivities, OrderActivities, OrderSnapshot } from '../temporal/activities.js';
import {
  IDEMPOTENT_UPDATE_PREFIX,
  MATCHING_SCHEDULE_TO_CLOSE_MS_DEFAULT,
  MATCHING_START_TO_CLOSE_MS_DEFAULT,
  MAX_KEPT_ANSWERS,
  MAX_KEPT_FILL_IDS,
  ackOf,
  cancelOrderUpdate,
  fillSignal,
  orderClosedSignal,
  orderTriggeredSignal,
  placeOrderUpdate,
  replaceOrderUpdate,
  stateQuery,
  withCommittedOrder,
  type CancelRequest,
  type CommittedOrder,
  type CompensationOutcome,
  type CompensationStep,
  type OrderAck,
  type ReplaceRequest,
  type SagaState,
  type TradingSagaInput,
} from '../temporal/contracts.js';
import {
  FAILURE_MESSAGES,
  FailureType,
  businessFailure,
  orderClosed,
  readBusinessFailure,
  versionConflict,
} from '../temporal/failures.js';
import { isTerminal } from '../temporal/orders.js';
import { OrderStatusKey } from '../temporal/search-attributes.js';
import type { TradingSagaWorkflow } from '../temporal/trading-saga.js';

/** Metrics leave the workflow through a sink (not called during replay), into the worker's registry. */
export interface SagaSinks extends Sinks {
  sagaMetrics: {
    started(): void;
    completed(status: string): void;
    compensation(step: CompensationStep, outcome: CompensationOutcome): void;
    acked(outcome: string): void;
  };
}

export const retryCompensationsSignal = defineSignal('retryCompensations');

const { sagaMetrics } = proxySinks<SagaSinks>();

const orderSteps = proxyLocalActivities<OrderActivities>({
  startToCloseTimeout: '5 seconds',
  localRetryThreshold: '2 seconds',
  retry: {
    initialInterval: '100 ms',
    backoffCoefficient: 2,
    maximumInterval: '2 seconds',
    maximumAttempts: 10,
  },
});

/** Continue-as-new well before the 50k-event limit; the saga's history is mostly signals. */
const MAX_HISTORY_EVENTS = 2000;

/** Pause between two tries of an expiry that failed (the matching steps' longest retry interval). */
const EXPIRY_RETRY_MS = 5000;

/**
 * Changes to what the saga decides, each behind its patch (`patched()`): a saga whose history was
 * recorded before one keeps deciding as it did, so that it replays (workflows/replay.test.ts). A new
 * patch adds a history that takes its new path to workflows/histories/ and keeps the ones before it.
 */
export const PATCHES = {
  /** A closed order stays closed: a fill or a step's snapshot that comes after the close keeps its status. */
  closedStaysClosed: 'closed-stays-closed',
  /** A snapshot behind the fills still brings its version, quantity and price (fill signals carry none). */
  versionApartFromFills: 'version-apart-from-fills',
  /** The expiry timer follows the time in force a replace sets. */
  expiryFollowsTimeInForce: 'expiry-follows-time-in-force',
  /** A placement withdrawn after its order traded ends as the withdraw left it, not rejected. */
  withdrawKeepsTrades: 'withdraw-keeps-trades',
  /** Replaces and cancels one at a time also when several wait behind one (see `modify`). */
  oneAtATime: 'one-modify-at-a-time',
  /** An expiry that fails (no shard owner within the schedule-to-close) is tried again until it goes through. */
  expiryUntilDone: 'expiry-until-done',
  /**
   * The saga keeps the latest MAX_KEPT_FILL_IDS fill ids, and a fill within the filled quantity already
   * counted changes nothing. Sagas from before kept every id, carried through continue-as-new, until the
   * input passed Temporal's payload limit and the server terminated the saga.
   */
  keptFillIds: 'kept-fill-ids',
} as const;

interface Compensation {
  name: CompensationStep;
  run: () => Promise<void>;
}

/** Compiles only while TradingSaga has exactly the type clients use (temporal/trading-saga.ts). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
export type _TradingSagaMatchesContract = Assert<Same<typeof TradingSaga, TradingSagaWorkflow>>;

export async function TradingSaga(input: TradingSagaInput): Promise<SagaState> {
  const { order } = input;
  const matching = proxyActivities<MatchingActivities>({
    taskQueue: input.matchingTaskQueue,
    startToCloseTimeout: input.matchingStartToCloseMs ?? MATCHING_START_TO_CLOSE_MS_DEFAULT,
    scheduleToCloseTimeout: input.matchingScheduleToCloseMs ?? MATCHING_SCHEDULE_TO_CLOSE_MS_DEFAULT,
    retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '5 seconds' },
  });

  const state: SagaState = input.state ?? {
    orderId: order.orderId,
    status: 'pending',
    phase: 'validating',
    lockVersion: 0,
    quantity: order.quantity,
    price: order.price,
    filledQuantity: '0',
    reservedAmount: '0',
    fillIds: [],
    compensations: [],
  };
  let acked = input.state !== undefined;
  let retryRequested = false;
  /**
   * When the order expires (its session close while it is DAY): moved by a replace of its time in force
   * until the close came (`expiring`).
   */
  let expiresAt = input.expiresAt;
  /** The close came: the order expires, however long its shard takes to answer, whatever a replace says. */
  let expiring = false;
  /** Serialises replace and cancel: validators run before handlers, so the handler re-checks. */
  let busy = false;

  const ack = (): OrderAck => ackOf(state, order.clientOrderId);
  /**
   * The order row as the last matching step committed it: answers carry it while the state is still
   * that row's (kept out of the state, so it never travels in continue-as-new or kept answers).
   */
  let committed: CommittedOrder | undefined;

  const markAcked = () => {
    if (acked) return;
    acked = true;
    sagaMetrics.acked(state.status);
  };

  /** Record fill ids, each once, the latest MAX_KEPT_FILL_IDS. */
  const keepFillIds = (ids: string[]) => {
    for (const id of ids) if (!state.fillIds.includes(id)) state.fillIds.push(id);
    const over = state.fillIds.length - MAX_KEPT_FILL_IDS;
    if (over > 0 && patched(PATCHES.keptFillIds)) state.fillIds.splice(0, over);
  };

  const setStatus = (status: SagaState['status']) => {
    if (state.status === status) return;
    state.status = status;
    upsertSearchAttributes({ [OrderStatusKey.name]: [status] });
  };

  /**
   * Take the matching worker's committed view, unless a newer step's already arrived. A fill signal
   * (which carries no version) may have told more of the fills: then the snapshot brings its version,
   * quantity and price, and the signal keeps the fills, the reservation and the status. A close that
   * came first (signals carry none either) keeps the order closed.
   */
  const apply = (snap: OrderSnapshot) => {
    if (snap.lockVersion < state.lockVersion) return;
    const behindFills = compareInt(snap.filledQuantity, state.filledQuantity) < 0;
    // Sagas from before the patch dropped such a snapshot whole, its new version with it.
    if (behindFills && !patched(PATCHES.versionApartFromFills)) return;
    state.lockVersion = snap.lockVersion;
    state.quantity = snap.quantity;
    state.price = snap.price;
    if (snap.rejectReason) state.rejectReason = snap.rejectReason;
    keepFillIds(snap.fillIds);
    committed = snap.order;
    if (behindFills) return;
    state.filledQuantity = snap.filledQuantity;
    if (isTerminal(state.status) && !isTerminal(snap.status) && patched(PATCHES.closedStaysClosed)) return;
    state.reservedAmount = snap.reservedAmount;
    setStatus(snap.status);
  };

  // ---- handlers (set before the first await) ----------------------------------------------------

  setHandler(stateQuery, () => state);
  setHandler(retryCompensationsSignal, () => void (retryRequested = true));

  setHandler(placeOrderUpdate, async () => {
    await condition(() => acked);
    return withCommittedOrder(ack(), committed);
  });

  setHandler(fillSignal, (fill) => {
    if (state.fillIds.includes(fill.fillId)) return; // at-least-once delivery: dedupe by fill id
    keepFillIds([fill.fillId]);
    // Redelivered after its id left the kept ones, or a step's answer told it: the order's filled
    // quantity after a fill only grows, so one within what the saga counted is counted.
    if (patched(PATCHES.keptFillIds) && compareInt(fill.filledQuantity, state.filledQuantity) <= 0) return;
    if (isTerminal(state.status) && patched(PATCHES.closedStaysClosed)) {
      // The signals of one commit arrive in any order: this trade came before the close that arrived
      // first (a closed order does not trade). It counts, but the order stays closed with what the
      // close left reserved.
      if (compareInt(fill.filledQuantity, state.filledQuantity) > 0)
        state.filledQuantity = fill.filledQuantity;
      return;
    }
    if (compareInt(fill.filledQuantity, state.filledQuantity) >= 0) {
      state.filledQuantity = fill.filledQuantity;
      state.reservedAmount = fill.reservedAmount;
      setStatus(fill.status);
    }
  });

  // A stop triggered by another order's trade: it now trades like any order (fills come as signals).
  setHandler(orderTriggeredSignal, (t) => {
    if (state.status !== 'pending_trigger') return; // a fill or a snapshot already told more
    state.reservedAmount = t.reservedAmount;
    setStatus(t.status);
  });

  setHandler(orderClosedSignal, (closed) => {
    if (isTerminal(state.status)) return;
    state.reservedAmount = closed.reservedAmount;
    setStatus(closed.status);
  });

  const checkModifiable = (clientVersion: number | undefined) => {
    const { status, lockVersion } = state;
    if (!acked || status === 'pending')
      throw businessFailure(FailureType.OrderTerminal, 'Order is not live yet', { status });
    if (isTerminal(status)) throw orderClosed(status);
    if (clientVersion !== undefined && clientVersion !== lockVersion)
      throw versionConflict(clientVersion, lockVersion);
  };

  /**
   * A replace or cancel sent with an Idempotency-Key (its update id): the answer it already got, which
   * the repeat receives instead of running again (its version no longer matches).
   */
  const keyedUpdateId = (): string | undefined => {
    const id = currentUpdateInfo()?.id;
    return id?.startsWith(IDEMPOTENT_UPDATE_PREFIX) ? id : undefined;
  };
  const answered = (id: string | undefined): OrderAck | undefined =>
    id === undefined ? undefined : state.answers?.[id];
  const remember = (id: string | undefined, answer: OrderAck): OrderAck => {
    if (id === undefined) return answer;
    const kept = Object.entries(state.answers ?? {}).slice(-(MAX_KEPT_ANSWERS - 1));
    state.answers = Object.fromEntries([...kept, [id, answer]]);
    return answer;
  };

  /** Run a replace or cancel step, one at a time; a keyed repeat gets its first answer. */
  const modify = async (clientVersion: number | undefined, step: () => Promise<OrderSnapshot>) => {
    const id = keyedUpdateId();
    await condition(() => !busy);
    // One change of `busy` releases every waiter in the same pass; the first to run takes it, and the
    // others wait again.
    while (busy && patched(PATCHES.oneAtATime)) await condition(() => !busy);
    const earlier = answered(id);
    if (earlier) return earlier;
    checkModifiable(clientVersion);
    busy = true;
    try {
      apply(await step());
      return withCommittedOrder(remember(id, ack()), committed);
    } catch (err) {
      throw asBusiness(err);
    } finally {
      busy = false;
    }
  };
  const validateModify = (clientVersion: number | undefined) => {
    if (!answered(keyedUpdateId())) checkModifiable(clientVersion);
  };

  setHandler(
    replaceOrderUpdate,
    (req) =>
      modify(req.clientVersion, async () => {
        // The shard records the new close with the order (a replace made DAY) or drops it (made GTC).
        const snap = await matching.replaceOrder({ ...req, orderId: state.orderId, requestId: uuid4() });
        // GTC never expires; DAY at the session close the api computed (kept when it sent none).
        if (req.timeInForce && patched(PATCHES.expiryFollowsTimeInForce) && !expiring)
          expiresAt = req.timeInForce === 'DAY' ? (req.expiresAt ?? expiresAt) : undefined;
        return snap;
      }),
    { validator: (req: ReplaceRequest) => validateModify(req.clientVersion) },
  );

  setHandler(
    cancelOrderUpdate,
    (req) =>
      modify(req.clientVersion, () =>
        matching.cancelOrder({
          orderId: state.orderId,
          requestId: uuid4(),
          clientVersion: req.clientVersion,
          reason: 'user',
        }),
      ),
    { validator: (req: CancelRequest) => validateModify(req.clientVersion) },
  );

  // ---- placement -------------------------------------------------------------------------------

  if (!input.state) {
    sagaMetrics.started();
    const compensations: Compensation[] = [];
    /** The order as the withdraw left it. */
    let withdrawn: OrderSnapshot | undefined;
    try {
      state.phase = 'validating';
      const validated = await orderSteps.validateOrder(order);

      state.phase = 'reserving';
      compensations.push({
        name: 'releaseReservation',
        run: () =>
          orderSteps.releaseReservation({
            orderId: order.orderId,
            accountId: order.accountId,
            reason: state.rejectReason ?? 'compensated',
          }),
      });
      // A DAY order's session close goes with it into the book: the shard expires it from then on.
      const pending = { order, workflowId: workflowInfo().workflowId, reserved: validated, expiresAt };
      // The reserve records the order pending in the same statement; the persist step after it is then
      // empty. It stays, so that the saga's commands are those of the sagas recorded before (whose
      // reserve returned nothing: their persist writes the order).
      const reserve = await orderSteps.reserveFunds(pending);
      state.reservedAmount = validated.reserveAmount;

      state.phase = 'persisting';
      await orderSteps.persistOrder({ ...pending, persisted: reserve?.persisted === true });

      state.phase = 'submitting';
      compensations.push({
        name: 'withdrawFromBook',
        run: async () =>
          void (withdrawn = await matching.cancelOrder({ orderId: order.orderId, reason: 'compensation' })),
      });
      apply(await matching.submitOrder({ orderId: order.orderId }));
      state.phase = 'live';
    } catch (err) {
      // A business reject, or an infrastructure failure that outlived its retry policy: either way
      // nothing of this order may stay reserved or in the book.
      const failure = readBusinessFailure(err) ?? {
        type: FailureType.ProcessingFailed,
        message: FAILURE_MESSAGES.ProcessingFailed,
      };
      state.rejectCode = failure.type;
      state.rejectReason = failure.message;
      await compensate(compensations);
      // A submit that timed out may still have rested the order, and it may have traded before the
      // withdraw took it out: the trades stand, and the order ends as the withdraw left it (cancelled,
      // or filled). Only an order that never traded is rejected.
      const left = withdrawn;
      const traded =
        left !== undefined && left.filledQuantity !== '0' && patched(PATCHES.withdrawKeepsTrades);
      if (traded) {
        delete state.rejectCode;
        delete state.rejectReason;
        apply(left);
      }
      if (!traded || !isTerminal(state.status)) setStatus('rejected');
    }
    markAcked();
  }

  // ---- live until terminal ----------------------------------------------------------------------

  const historyTooLong = () =>
    workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > MAX_HISTORY_EVENTS;
  while (!isTerminal(state.status)) {
    const until = expiresAt;
    // An expiry that failed is tried again after a pause (its close is past).
    const soonest = expiring ? EXPIRY_RETRY_MS : 1;
    const timeout = until ? Math.max(soonest, Date.parse(until) - Date.now()) : undefined;
    const wake = () => isTerminal(state.status) || (!busy && historyTooLong()) || expiresAt !== until;
    const woke = timeout === undefined ? (await condition(wake), true) : await condition(wake, timeout);
    if (isTerminal(state.status)) break;
    if (expiresAt !== until) continue; // a replace changed the time in force: a new timer, or none
    if (!woke) {
      // Session close (durable timer): expire what is still working, after any replace/cancel in flight
      // (unless that replace made it GTC or moved its close). A shard that expired the order already
      // (before a trade in its book, ADR 0044) answers with it closed, and its signal may come first.
      await condition(() => !busy);
      if (expiresAt !== until) continue;
      if (isTerminal(state.status)) continue;
      expiring ||= patched(PATCHES.expiryUntilDone);
      try {
        apply(await matching.cancelOrder({ orderId: state.orderId, reason: 'expired' }));
      } catch (err) {
        // No shard owner answered within the schedule-to-close (or the step failed): the order must not
        // stay live past its session, so the loop tries again, and a client's cancel may still come
        // first. Sagas from before the patch failed here, leaving the order working.
        if (!(expiring ||= patched(PATCHES.expiryUntilDone))) throw err;
      }
      continue;
    }
    await condition(allHandlersFinished);
    await continueAsNew<typeof TradingSaga>({ ...input, expiresAt, state: { ...state, phase: 'live' } });
  }

  state.phase = state.phase === 'needs_attention' ? state.phase : 'done';
  await condition(allHandlersFinished);
  sagaMetrics.completed(state.status);
  return state;

  // ---- helpers ----------------------------------------------------------------------------------

  async function compensate(list: Compensation[]): Promise<void> {
    state.phase = 'compensating';
    await CancellationScope.nonCancellable(async () => {
      for (const c of [...list].reverse()) {
        for (;;) {
          try {
            await c.run();
            state.compensations.push(c.name);
            sagaMetrics.compensation(c.name, 'ok');
            break;
          } catch {
            // Retries inside the activity are exhausted: park visibly and wait for an operator.
            sagaMetrics.compensation(c.name, 'failed');
            if (!acked) {
              // The client gets its answer (rejected) now; the leftover is the operator's to finish.
              setStatus('rejected');
              markAcked();
            }
            state.phase = 'needs_attention';
            upsertSearchAttributes({ [OrderStatusKey.name]: ['needs_attention'] });
            retryRequested = false;
            await condition(() => retryRequested);
            state.phase = 'compensating';
            upsertSearchAttributes({ [OrderStatusKey.name]: [state.status] });
          }
        }
      }
    });
  }
}

/** Integer decimal strings compared without bigint (workflow payloads stay JSON-safe). */
function compareInt(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Updates surface business rejects to the caller as typed ApplicationFailures. */
function asBusiness(err: unknown): unknown {
  const f = readBusinessFailure(err);
  return f ? businessFailure(f.type, f.message, f.details) : err;
}
