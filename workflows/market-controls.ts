/**
 * MarketControls: the one long-running workflow that holds the market's operator controls
 * (temporal/controls.ts, docs/adr/0022-risk-controls-through-temporal.md). Operators change them through
 * the `control` update, one action at a time: its validator refuses malformed requests before anything
 * is recorded; its handler writes the action through to Postgres with its audit row (`applyControl`),
 * then cancels what the action cancels through the orders' sagas (`cancelOpenOrders`), and answers.
 * Every action is an update in this workflow's history (the Temporal Web UI shows who did what and
 * why). The history is kept short by continue-as-new, which carries the state: market-wide only, so
 * that it stays small however many accounts are frozen or have limits (Postgres holds those).
 */
import {
  allHandlersFinished,
  type ActivityOptions,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities } from '../temporal/activities.js';
import { businessFailure, readBusinessFailure } from '../temporal/failures.js';
import {
  cancelScopeOf,
  controlRequestError,
  controlUpdate,
  controlsQuery,
  type ControlAction,
  type ControlRequest,
  type ControlResult,
  type MarketControlsInput,
  type MarketControlsState,
  type MarketControlsWorkflow,
} from '../temporal/controls.js';

const options: ActivityOptions = {
  // cancelOpenOrders may cancel every resting order of the market, 8 at a time.
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '5 seconds' },
};
const steps = proxyActivities<ControlActivities>(options);
/**
 * cancelOpenOrders heartbeats its progress (applyControl, one short transaction, does not): an attempt
 * whose worker died is retried after 30 seconds, not at the start-to-close timeout (until then the
 * resting orders of a frozen account or a stopped market can still trade), and carries on from them.
 */
const cancelling = proxyActivities<ControlActivities>({ ...options, heartbeatTimeout: '30 seconds' });

const DEFAULT_MAX_HISTORY_EVENTS = 1000;

/** Changes to what the workflow decides, each behind its patch (`patched()`), as TradingSaga's. */
export const PATCHES = {
  /** Actions one at a time also when several wait behind one (see the `control` handler). */
  oneAtATime: 'one-control-at-a-time',
} as const;

/** Compiles only while MarketControls has the type clients use (temporal/controls.ts). */
export const _marketControlsMatchesContract: MarketControlsWorkflow = MarketControls;

export async function MarketControls(input: MarketControlsInput): Promise<void> {
  // Only the market-wide fields: a run started by an older one may carry its accounts' freezes and limits.
  const carried: Partial<MarketControlsState> = input.state ?? {};
  const { halted = [], killSwitches = [], actions = 0 } = carried;
  const state: MarketControlsState = { halted, killSwitches, actions };
  const maxHistory = input.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS;
  /** One action at a time: a freeze does not interleave with the unfreeze that follows it. */
  let busy = false;

  setHandler(controlsQuery, () => state);
  setHandler(
    controlUpdate,
    async (request): Promise<ControlResult> => {
      await condition(() => !busy);
      // One change of `busy` releases every waiter in the same pass; the first to run takes it, and the
      // others wait again. Behind a patch: controls recorded before it replay as they ran.
      while (busy && patched(PATCHES.oneAtATime)) await condition(() => !busy);
      busy = true;
      try {
        const actionId = uuid4();
        const at = new Date().toISOString();
        const { workflowId, runId } = workflowInfo();
        await steps.applyControl({ actionId, at, request, workflowId, runId });
        record(state, request.action);
        state.actions += 1;
        const scope = cancelScopeOf(request.action);
        const outcome = scope
          ? await cancelling.cancelOpenOrders({ actionId, scope })
          : { cancelled: [], failed: [] };
        return { actionId, at, ...outcome };
      } catch (err) {
        // A refusal (unknown symbol or account) reaches the operator as the business failure it is.
        const f = readBusinessFailure(err);
        throw f ? businessFailure(f.type, f.message, f.details) : err;
      } finally {
        busy = false;
      }
    },
    {
      validator: (request: ControlRequest) => {
        const error = controlRequestError(request);
        if (error) throw new Error(error);
      },
    },
  );

  await condition(
    () => !busy && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > maxHistory),
  );
  await condition(allHandlersFinished);
  await continueAsNew<typeof MarketControls>({ ...input, state });
}

/** The action's effect on the state the workflow holds: none for an account's or a user's. */
function record(state: MarketControlsState, a: ControlAction): void {
  const put = (list: string[], v: string, on: boolean) =>
    on ? [...new Set([...list, v])].sort() : list.filter((x) => x !== v);
  switch (a.kind) {
    case 'halt':
    case 'resume':
      state.halted = put(state.halted, a.symbol, a.kind === 'halt');
      break;
    case 'engage_kill_switch':
    case 'release_kill_switch':
      state.killSwitches = put(state.killSwitches, a.scope, a.kind === 'engage_kill_switch');
      break;
  }
}
