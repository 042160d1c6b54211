/**
 * The MarketControls workflow's contract (docs/adr/0022-risk-controls-through-temporal.md): one long-running
 * workflow per deployment is the only writer of the market's operator controls (halts, freezes, kill
 * switches, per-account risk limits, and the suspension of users, ADR 0008) and changes them only
 * through the validated `control` update, one action at a time. The update answers once the change is
 * written through to Postgres (where every placement reads it under the control lock) and, for the
 * actions that cancel, once every resting order concerned was cancelled through its saga. Amounts
 * travel as decimal strings of integers (cents, shares).
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { withPrefix } from './contracts.js';
import type { RiskLimitName } from './failures.js';

/** Workflow type name, as registered by the trading worker. */
export const MARKET_CONTROLS = 'MarketControls';
/** One control workflow per deployment (per TASK_QUEUE_PREFIX in tests). */
export const marketControlsWorkflowId = (prefix: string): string => withPrefix(prefix, 'market-controls');

/** A limit per name, as a decimal string of an integer (cents for notionals); null: no limit. */
export type RiskLimits = Record<RiskLimitName, string | null>;

export type ControlAction =
  | { kind: 'halt'; symbol: string; cancelResting: boolean }
  | { kind: 'resume'; symbol: string }
  | { kind: 'freeze'; accountId: string }
  | { kind: 'unfreeze'; accountId: string }
  /** scope: '*' (every symbol) or one symbol. */
  | { kind: 'engage_kill_switch'; scope: string }
  | { kind: 'release_kill_switch'; scope: string }
  | { kind: 'set_limits'; accountId: string; limits: RiskLimits }
  /** A user's access: suspended, no login and every session ended (the api revokes them); or reinstated. */
  | { kind: 'suspend_user'; userId: string }
  | { kind: 'reinstate_user'; userId: string };

export interface ControlRequest {
  action: ControlAction;
  operator: { userId: string; email: string };
  /** Why: required, shown in the audit trail. */
  reason: string;
}

export interface ControlResult {
  /** The audit trail's id for this action. */
  actionId: string;
  /** ISO time the change was applied. */
  at: string;
  /** Orders cancelled through their sagas by this action, and those that could not be. */
  cancelled: string[];
  failed: { orderId: string; type?: string; message: string }[];
}

/**
 * What the workflow holds, carried across continue-as-new; the `controls` query answers it. Market-wide
 * only (bounded by the symbols): an account's freeze and limits are in Postgres alone (accounts.status,
 * risk_limits; GET /api/v1/admin/controls reads them there), as otherwise the continue-as-new input
 * would grow with the accounts until Temporal refuses it (2 MB) and terminates the workflow.
 */
export interface MarketControlsState {
  halted: string[];
  killSwitches: string[];
  /** Actions applied since the workflow first started. */
  actions: number;
}

export interface MarketControlsInput {
  state?: MarketControlsState;
  /** Continue-as-new past this many history events (tests make it small). */
  maxHistoryEvents?: number;
}

export type MarketControlsWorkflow = (input: MarketControlsInput) => Promise<void>;

export const controlUpdate = defineUpdate<ControlResult, [ControlRequest]>('control');
export const controlsQuery = defineQuery<MarketControlsState>('controls');

const SYMBOL = /^[A-Z][A-Z0-9.]{0,9}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LIMIT = /^[0-9]{1,18}$/;
export const MAX_REASON_LENGTH = 500;

/** Why a request cannot be applied (the update's validator), or undefined when it is well formed. */
export function controlRequestError(req: ControlRequest): string | undefined {
  const reason = typeof req?.reason === 'string' ? req.reason.trim() : '';
  if (!reason) return 'reason is required';
  if (reason.length > MAX_REASON_LENGTH) return `reason must be at most ${MAX_REASON_LENGTH} characters`;
  if (!req.operator?.userId || !req.operator.email) return 'operator is required';
  const a = req.action;
  switch (a?.kind) {
    case 'halt':
    case 'resume':
      return SYMBOL.test(a.symbol) ? undefined : `not a symbol: ${a.symbol}`;
    case 'freeze':
    case 'unfreeze':
      return UUID.test(a.accountId) ? undefined : `not an account id: ${a.accountId}`;
    case 'engage_kill_switch':
    case 'release_kill_switch':
      return a.scope === '*' || SYMBOL.test(a.scope) ? undefined : `not a scope: ${a.scope}`;
    case 'suspend_user':
    case 'reinstate_user':
      return UUID.test(a.userId) ? undefined : `not a user id: ${a.userId}`;
    case 'set_limits': {
      if (!UUID.test(a.accountId)) return `not an account id: ${a.accountId}`;
      const bad = Object.entries(a.limits ?? {}).find(([, v]) => v !== null && !LIMIT.test(v));
      return bad ? `${bad[0]} must be a non-negative integer or null` : undefined;
    }
    default:
      return 'unknown action';
  }
}

/** The audit trail's target of an action: the symbol, the account, the user, or '*'. */
export function controlTarget(a: ControlAction): string {
  if ('symbol' in a) return a.symbol;
  if ('accountId' in a) return a.accountId;
  if ('userId' in a) return a.userId;
  return a.scope;
}

/** The orders an action cancels once it is in force: none, or those of a symbol, an account, the market. */
export function cancelScopeOf(a: ControlAction): { symbol?: string; accountId?: string } | undefined {
  switch (a.kind) {
    case 'halt':
      return a.cancelResting ? { symbol: a.symbol } : undefined;
    case 'freeze':
      return { accountId: a.accountId };
    case 'engage_kill_switch':
      return a.scope === '*' ? {} : { symbol: a.scope };
    default:
      return undefined;
  }
}
