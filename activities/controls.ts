/**
 * The MarketControls workflow's steps, run by the trading worker. `applyControl` writes an operator's
 * action (a market control, or a user's suspension) through to Postgres with its audit row in one transaction that holds the action's control lock
 * exclusively (db/queries/controls.ts): it waits for placements in flight on that scope, and every
 * placement after its commit sees the change. `cancelOpenOrders` cancels the scope's resting orders
 * through their sagas (temporal/saga-cancel.ts, as a client's cancel-all does). Both are idempotent by
 * action id; `cancelOpenOrders` heartbeats its progress, and a retry carries on from it, so that the
 * outcome it records and answers counts the cancels of every attempt.
 */
import { Context } from '@temporalio/activity';
import type { Db } from '../db/client.js';
import {
  clientAccountExists,
  engageKillSwitch,
  holdControlLockExclusive,
  insertAudit,
  instrumentExists,
  releaseKillSwitch,
  setAccountFrozen,
  setAuditOutcome,
  setInstrumentStatus,
  setRiskLimits,
  type ControlScope,
} from '../db/queries/controls.js';
import { listOpenOrders, orderIsOpen } from '../db/queries/orders.js';
import { setUserSuspended } from '../db/queries/users.js';
import type { ControlActivities } from '../temporal/activities.js';
import { controlTarget, type ControlAction } from '../temporal/controls.js';
import { FailureType, businessFailure } from '../temporal/failures.js';
import { cancelThroughSagas, type SagaCancelOutcome } from '../temporal/saga-cancel.js';

const lockScopeOf = (a: ControlAction): ControlScope => {
  if ('symbol' in a) return `symbol:${a.symbol}`;
  if ('accountId' in a) return `account:${a.accountId}`;
  if ('userId' in a) return `user:${a.userId}`;
  return a.scope === '*' ? '*' : `symbol:${a.scope}`;
};

const limit = (v: string | null) => (v === null ? null : BigInt(v));

/**
 * Orders per heartbeat of `cancelOpenOrders`: one round of `cancelThroughSagas`' concurrency. An attempt
 * that fails part-way loses the results of its batch in flight (the SDK throttles heartbeats, so a
 * worker that dies can lose the last few seconds' too): those orders are closed, the retry does not
 * list them, and the outcome undercounts them.
 */
const CANCEL_BATCH = 8;

export function createControlActivities({ db }: { db: Db }): ControlActivities {
  return {
    async applyControl({ actionId, at, request, workflowId, runId }) {
      const { action } = request;
      const when = new Date(at);
      await db.transaction(async (tx) => {
        await holdControlLockExclusive(tx, lockScopeOf(action));
        const recorded = await insertAudit(tx, {
          actionId,
          at: when,
          operatorId: request.operator.userId,
          operatorEmail: request.operator.email,
          action: action.kind,
          target: controlTarget(action),
          reason: request.reason.trim(),
          params: action,
          workflowId,
          runId,
        });
        if (!recorded) return; // a retry after the commit: applied already
        const symbol =
          'symbol' in action
            ? action.symbol
            : 'scope' in action && action.scope !== '*'
              ? action.scope
              : undefined;
        if (symbol !== undefined && !(await instrumentExists(tx, symbol)))
          throw businessFailure(FailureType.UnknownSymbol, `Unknown symbol ${symbol}`);
        if ('accountId' in action && !(await clientAccountExists(tx, action.accountId)))
          throw businessFailure(FailureType.UnknownAccount, `Unknown account ${action.accountId}`);
        switch (action.kind) {
          case 'halt':
          case 'resume':
            if (
              !(await setInstrumentStatus(tx, action.symbol, action.kind === 'halt' ? 'halted' : 'trading'))
            )
              throw businessFailure(FailureType.InstrumentNotTrading, `${action.symbol} is closed`);
            break;
          case 'freeze':
          case 'unfreeze':
            if (!(await setAccountFrozen(tx, action.accountId, action.kind === 'freeze')))
              throw businessFailure(FailureType.AccountInactive, `Account ${action.accountId} is closed`);
            break;
          case 'engage_kill_switch':
            await engageKillSwitch(tx, {
              scope: action.scope,
              at: when,
              by: request.operator.email,
              reason: request.reason,
            });
            break;
          case 'release_kill_switch':
            await releaseKillSwitch(tx, action.scope);
            break;
          case 'suspend_user':
          case 'reinstate_user': {
            const before = await setUserSuspended(tx, action.userId, action.kind === 'suspend_user');
            if (!before) throw businessFailure(FailureType.UnknownUser, `Unknown user ${action.userId}`);
            if (before === 'pending')
              throw businessFailure(
                FailureType.AccountInactive,
                `User ${action.userId} has not verified their email address`,
              );
            break;
          }
          case 'set_limits':
            await setRiskLimits(tx, {
              accountId: action.accountId,
              maxOrderNotional: limit(action.limits.max_order_notional),
              maxOpenOrders:
                action.limits.max_open_orders === null ? null : Number(action.limits.max_open_orders),
              maxPosition: limit(action.limits.max_position),
              maxDailyNotional: limit(action.limits.max_daily_notional),
              at: when,
            });
            break;
        }
      });
    },

    async cancelOpenOrders({ actionId, scope }) {
      const ctx = Context.current();
      // A retry resumes from what earlier attempts heartbeated: their cancelled orders are closed now and
      // no longer listed, yet they belong to the action's outcome. An earlier failure whose order is
      // still open is tried again, and counted once, by this attempt's result.
      const earlier = (ctx.info.heartbeatDetails as Partial<SagaCancelOutcome> | undefined) ?? {};
      const cancelled = new Set(earlier.cancelled);
      const open = (await listOpenOrders(db, scope)).filter((o) => !cancelled.has(o.id));
      const retried = new Set(open.map((o) => o.id));
      const progress: SagaCancelOutcome = {
        cancelled: [...cancelled],
        failed: (earlier.failed ?? []).filter((f) => !retried.has(f.orderId)),
      };
      // A copy: the SDK encodes details after the call returns, and `progress` grows meanwhile.
      const beat = () => ctx.heartbeat({ cancelled: [...progress.cancelled], failed: [...progress.failed] });
      // Beats while a batch waits on its sagas too (a matching shard restarting, say): only a dead worker
      // should miss the heartbeat timeout.
      const every = ctx.info.heartbeatTimeoutMs;
      const timer = every ? setInterval(beat, every / 3) : undefined;
      try {
        for (let i = 0; i < open.length; i += CANCEL_BATCH) {
          // This attempt timed out or was cancelled: its retry carries on from the last heartbeat, and
          // only the attempt that finishes records the outcome.
          ctx.cancellationSignal.throwIfAborted();
          const batch = await cancelThroughSagas(
            ctx.client.workflow,
            open.slice(i, i + CANCEL_BATCH).map((o) => ({ orderId: o.id, workflowId: o.workflowId })),
            (id) => orderIsOpen(db, id),
          );
          progress.cancelled.push(...batch.cancelled);
          progress.failed.push(...batch.failed);
          beat();
        }
        ctx.cancellationSignal.throwIfAborted();
      } finally {
        clearInterval(timer);
      }
      await setAuditOutcome(db, actionId, {
        cancelled: progress.cancelled.length,
        failed: progress.failed.length,
      });
      return progress;
    },
  };
}
