/**
 * Operator routes under /api/v1/admin (operators only: requireOperator, 403 for clients, and for an
 * operator demoted since the token was issued). Every change, a user's suspension included, is
 * an action of the MarketControls workflow (temporal/controls.ts): the route sends its `control` update
 * (starting the workflow on first use) and answers with the update's result, which comes only once the
 * control is in force (docs/adr/0022-risk-controls-through-temporal.md). A suspension then ends every
 * session of the user (revocation event: REST refused at the next request, WebSockets closed; ADR 0008).
 * Reads come from Postgres.
 */
import { z } from '@hono/zod-openapi';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { controlsInForce, listAudit, type AuditRow } from '../../db/queries/controls.js';
import { CASH_SCALE, formatDecimal, parseDecimal } from '../../lib/money.js';
import { TRADING_TASK_QUEUE, withPrefix } from '../../temporal/contracts.js';
import {
  MARKET_CONTROLS,
  MAX_REASON_LENGTH,
  controlUpdate,
  marketControlsWorkflowId,
  type ControlAction,
  type ControlResult,
  type MarketControlsWorkflow,
  type RiskLimits,
} from '../../temporal/controls.js';
import { readBusinessFailure } from '../../temporal/failures.js';
import { INT64_MAX, MAX_ORDER_QUANTITY } from '../../temporal/order-bounds.js';
import { requireOperator } from '../auth/middleware.js';
import { authServices } from '../auth/services.js';
import { cancelFailureJson, failureProblem } from '../failures.js';
import { apiRoute, boundedDecimal, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';

const Reason = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(MAX_REASON_LENGTH)
  .openapi({ description: 'Why: recorded in the audit trail', example: 'news pending' });
const SymbolParam = z.object({
  symbol: z
    .string()
    .toUpperCase()
    .regex(/^[A-Z][A-Z0-9.]{0,9}$/, 'must be a ticker symbol'),
});
const AccountParam = z.object({ account_id: z.uuid({ message: 'must be an account id (uuid)' }) });
const UserParam = z.object({ user_id: z.uuid({ message: 'must be a user id (uuid)' }) });
const ReasonBody = z.object({ reason: Reason }).strict();

const ActionResult = z
  .object({
    success: z.literal(true),
    action_id: z.string(),
    at: z.string(),
    action: z.string(),
    target: z.string(),
    cancelled: z.array(z.string()).openapi({ description: 'Orders cancelled by the action' }),
    failed: z.array(z.object({ order_id: z.string(), code: z.string(), message: z.string() })),
  })
  .openapi('ControlActionResult');

/** Maximum for notional limits: the largest order notional (MAX_NOTIONAL) is far below this. */
const MAX_LIMIT_CENTS = 10n ** 15n;
const Notional = boundedDecimal({
  scale: CASH_SCALE,
  max: MAX_LIMIT_CENTS,
  example: '50000.00',
  description: 'USD',
})
  .nullable()
  .optional();
const Count = z.number().int().min(0).max(Number(MAX_ORDER_QUANTITY)).nullable().optional();
const LimitsBody = z
  .object({
    reason: Reason,
    max_order_notional: Notional.openapi({
      description: 'Largest quantity x price of one order (USD); null: none',
    }),
    max_open_orders: Count.openapi({ description: 'Most open orders at once; null: none' }),
    max_position: Count.openapi({
      description: 'Most shares held plus bought by open orders, per symbol; null: none',
    }),
    max_daily_notional: Notional.openapi({
      description: "Most traded notional per UTC day, counting the order's own (USD); null: none",
    }),
  })
  .strict()
  .openapi('RiskLimits');

const KillSwitchBody = z
  .object({
    reason: Reason,
    symbol: SymbolParam.shape.symbol
      .optional()
      .openapi({ description: 'One symbol; absent: the whole market' }),
  })
  .strict();

const auditJson = (r: AuditRow) => ({
  id: r.id.toString(),
  action_id: r.actionId,
  at: r.at.toISOString(),
  operator: { user_id: r.operatorId, email: r.operatorEmail },
  action: r.action,
  target: r.target,
  reason: r.reason,
  params: r.params as Record<string, unknown>,
  outcome: (r.outcome as Record<string, unknown> | null) ?? null,
  workflow_id: r.workflowId,
  run_id: r.runId,
});
const AuditEntry = z
  .object({
    id: z.string(),
    action_id: z.string(),
    at: z.string(),
    operator: z.object({ user_id: z.string(), email: z.string() }),
    action: z.string(),
    target: z.string(),
    reason: z.string(),
    params: z.record(z.string(), z.unknown()),
    outcome: z.record(z.string(), z.unknown()).nullable(),
    workflow_id: z
      .string()
      .openapi({ description: 'The control workflow: its history in the Temporal Web UI' }),
    run_id: z.string(),
  })
  .openapi('AuditEntry');
const AUDIT_EXAMPLE = {
  id: '42',
  action_id: '1b7f3c2e-0a4d-4e8f-9c21-6d5e4f3a2b10',
  at: '2026-03-02T14:30:00.000Z',
  operator: { user_id: '9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', email: 'ops@example.com' },
  action: 'halt',
  target: 'AAPL',
  reason: 'news pending',
  params: { kind: 'halt', symbol: 'AAPL', cancelResting: true },
  outcome: { cancelled: 3, failed: 0 },
  workflow_id: 'market-controls',
  run_id: '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b',
} satisfies z.infer<typeof AuditEntry>;

export function adminRoutes(deps: ApiDeps) {
  const { config, temporal } = deps;
  const db = deps.database.db;
  const { sessions, challenges } = authServices(deps);
  const app = createRouter();
  app.use('/api/v1/admin/*', requireOperator(deps));

  const workflowId = marketControlsWorkflowId(config.TASK_QUEUE_PREFIX);

  /** Apply an action through the control workflow (started on first use); its result once in force. */
  const act = async (
    operator: { userId: string; email: string },
    action: ControlAction,
    reason: string,
    target: string,
  ) => {
    const start = new WithStartWorkflowOperation<MarketControlsWorkflow>(MARKET_CONTROLS, {
      workflowId,
      taskQueue: withPrefix(config.TASK_QUEUE_PREFIX, TRADING_TASK_QUEUE),
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [{}],
    });
    let result: ControlResult;
    try {
      result = await temporal.workflow.executeUpdateWithStart(controlUpdate, {
        args: [{ action, operator, reason }],
        startWorkflowOperation: start,
      });
    } catch (err) {
      const failure = readBusinessFailure(err);
      if (failure) throw failureProblem(failure);
      if (err instanceof WorkflowUpdateFailedError)
        throw new ApiError('validation_failed', 'Validation failed', [err.cause?.message ?? err.message]);
      throw err;
    }
    return {
      success: true as const,
      action_id: result.actionId,
      at: result.at,
      action: action.kind,
      target,
      cancelled: result.cancelled,
      failed: result.failed.map(cancelFailureJson),
    };
  };

  const actionResponses = (description: string, action: ControlAction['kind'], target: string) => ({
    200: {
      description,
      content: {
        'application/json': {
          schema: ActionResult,
          example: {
            success: true as const,
            action_id: '1b7f3c2e-0a4d-4e8f-9c21-6d5e4f3a2b10',
            at: '2026-03-02T14:30:00.000Z',
            action,
            target,
            cancelled: [],
            failed: [],
          },
        },
      },
    },
  });
  const body = <T extends z.ZodType>(schema: T, example: z.infer<T>) => ({
    body: { content: { 'application/json': { schema, example } }, required: true },
  });

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/admin/symbols/{symbol}/halt',
      operationId: 'haltSymbol',
      errors: [403, 404],
      tag: 'admin',
      auth: 'bearer',
      summary:
        'Halt a symbol: new orders get 422 symbol_halted; resting orders stay (and cannot trade) or are cancelled',
      request: {
        params: SymbolParam,
        ...body(
          z
            .object({
              reason: Reason,
              cancel_resting: z
                .boolean()
                .default(false)
                .openapi({ description: 'Also cancel the resting orders' }),
            })
            .strict(),
          { reason: 'news pending', cancel_resting: false },
        ),
      },
      responses: actionResponses('The halt is in force', 'halt', 'AAPL'),
    }),
    async (c) => {
      const { symbol } = c.req.valid('param');
      const b = c.req.valid('json');
      const action: ControlAction = { kind: 'halt', symbol, cancelResting: b.cancel_resting };
      return c.json(await act(c.get('principal'), action, b.reason, symbol), 200);
    },
  );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/admin/symbols/{symbol}/resume',
      operationId: 'resumeSymbol',
      errors: [403, 404],
      tag: 'admin',
      auth: 'bearer',
      summary: 'Resume trading in a halted symbol',
      request: { params: SymbolParam, ...body(ReasonBody, { reason: 'news out' }) },
      responses: actionResponses('Trading resumed', 'resume', 'AAPL'),
    }),
    async (c) => {
      const { symbol } = c.req.valid('param');
      return c.json(
        await act(c.get('principal'), { kind: 'resume', symbol }, c.req.valid('json').reason, symbol),
        200,
      );
    },
  );

  for (const kind of ['freeze', 'unfreeze'] as const)
    app.openapi(
      apiRoute({
        method: 'post',
        path: `/api/v1/admin/accounts/{account_id}/${kind}`,
        operationId: kind === 'freeze' ? 'freezeAccount' : 'unfreezeAccount',
        errors: [403, 404],
        tag: 'admin',
        auth: 'bearer',
        summary:
          kind === 'freeze'
            ? 'Freeze an account: new orders get 422 account_frozen, its resting orders are cancelled'
            : 'Unfreeze an account',
        request: { params: AccountParam, ...body(ReasonBody, { reason: 'fraud check' }) },
        responses: actionResponses(
          kind === 'freeze' ? 'Frozen, resting orders cancelled' : 'Unfrozen',
          kind,
          '5d0e7c1a-3b8f-4f7a-8f0c-9a2e6b1d4c33',
        ),
      }),
      async (c) => {
        const accountId = c.req.valid('param').account_id;
        return c.json(
          await act(c.get('principal'), { kind, accountId }, c.req.valid('json').reason, accountId),
          200,
        );
      },
    );

  for (const kind of ['suspend', 'reinstate'] as const)
    app.openapi(
      apiRoute({
        method: 'post',
        path: `/api/v1/admin/users/{user_id}/${kind}`,
        operationId: kind === 'suspend' ? 'suspendUser' : 'reinstateUser',
        errors: [403, 404],
        tag: 'admin',
        auth: 'bearer',
        summary:
          kind === 'suspend'
            ? 'Suspend a user: no login, every session ends now (the next request is 401, live-feed sockets close); orders stay (freeze the account to cancel them)'
            : 'Reinstate a suspended user: they may log in again (the sessions the suspension ended stay ended)',
        request: {
          params: UserParam,
          ...body(ReasonBody, {
            reason: kind === 'suspend' ? 'account takeover suspected' : 'owner verified',
          }),
        },
        responses: actionResponses(
          kind === 'suspend' ? 'Suspended, every session ended' : 'Reinstated',
          `${kind}_user`,
          '8a7b6c5d-4e3f-4a1b-9c2d-3e4f5a6b7c8d',
        ),
      }),
      async (c) => {
        const userId = c.req.valid('param').user_id;
        const operator = c.get('principal');
        if (kind === 'suspend' && userId === operator.userId)
          throw new ApiError('validation_failed', 'Validation failed', [
            'user_id: an operator cannot suspend themselves',
          ]);
        const result = await act(
          operator,
          { kind: `${kind}_user`, userId },
          c.req.valid('json').reason,
          userId,
        );
        if (kind === 'suspend') {
          // In force in Postgres already (the live check refuses the user within seconds); now at once.
          await sessions.revokeUser(userId, 'suspended');
          await challenges.close(userId);
        }
        return c.json(result, 200);
      },
    );

  app.openapi(
    apiRoute({
      method: 'put',
      path: '/api/v1/admin/accounts/{account_id}/limits',
      operationId: 'setAccountLimits',
      errors: [403, 404],
      tag: 'admin',
      auth: 'bearer',
      summary: "Set an account's risk limits (each null or absent: no limit); violations are 422 risk_limit",
      request: {
        params: AccountParam,
        ...body(LimitsBody, { reason: 'desk limits', max_order_notional: '50000.00', max_open_orders: 20 }),
      },
      responses: actionResponses(
        'The limits are in force',
        'set_limits',
        '5d0e7c1a-3b8f-4f7a-8f0c-9a2e6b1d4c33',
      ),
    }),
    async (c) => {
      const accountId = c.req.valid('param').account_id;
      const b = c.req.valid('json');
      const errors: string[] = [];
      const cents = (name: 'max_order_notional' | 'max_daily_notional') => {
        const v = b[name];
        if (v === null || v === undefined) return null;
        const p = parseDecimal(v, CASH_SCALE);
        if (!p.ok) errors.push(`${name}: ${p.error}`);
        else if (p.value < 0n) errors.push(`${name}: must not be negative`);
        return p.ok ? p.value.toString() : null;
      };
      const limits: RiskLimits = {
        max_order_notional: cents('max_order_notional'),
        max_open_orders:
          b.max_open_orders === null || b.max_open_orders === undefined ? null : String(b.max_open_orders),
        max_position: b.max_position === null || b.max_position === undefined ? null : String(b.max_position),
        max_daily_notional: cents('max_daily_notional'),
      };
      if (errors.length) throw new ApiError('validation_failed', 'Validation failed', errors);
      return c.json(
        await act(c.get('principal'), { kind: 'set_limits', accountId, limits }, b.reason, accountId),
        200,
      );
    },
  );

  for (const engage of [true, false])
    app.openapi(
      apiRoute({
        method: 'post',
        path: engage ? '/api/v1/admin/kill-switch' : '/api/v1/admin/kill-switch/release',
        operationId: engage ? 'engageKillSwitch' : 'releaseKillSwitch',
        errors: [403, 404],
        tag: 'admin',
        auth: 'bearer',
        summary: engage
          ? 'Engage the kill switch (one symbol or the whole market): every new order is refused (422 kill_switch_engaged), every resting order cancelled'
          : 'Release the kill switch of one symbol or of the whole market',
        request: body(KillSwitchBody, { reason: engage ? 'incident' : 'resolved', symbol: 'AAPL' }),
        responses: actionResponses(
          engage ? 'Engaged, resting orders cancelled' : 'Released',
          engage ? 'engage_kill_switch' : 'release_kill_switch',
          'AAPL',
        ),
      }),
      async (c) => {
        const b = c.req.valid('json');
        const scope = b.symbol ?? '*';
        const kind = engage ? 'engage_kill_switch' : 'release_kill_switch';
        return c.json(await act(c.get('principal'), { kind, scope }, b.reason, scope), 200);
      },
    );

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/admin/controls',
      operationId: 'getControls',
      errors: [403],
      tag: 'admin',
      auth: 'bearer',
      summary: 'The controls in force: halted symbols, frozen accounts, kill switches, risk limits',
      responses: {
        200: {
          description: 'The controls in force',
          content: {
            'application/json': {
              schema: z.object({
                success: z.literal(true),
                halted: z.array(z.string()),
                frozen: z.array(z.string()),
                kill_switches: z.array(
                  z.object({
                    scope: z.string(),
                    engaged_at: z.string(),
                    engaged_by: z.string(),
                    reason: z.string(),
                  }),
                ),
                limits: z.array(
                  z.object({
                    account_id: z.string(),
                    max_order_notional: z.string().nullable(),
                    max_open_orders: z.number().nullable(),
                    max_position: z.number().nullable(),
                    max_daily_notional: z.string().nullable(),
                  }),
                ),
              }),
              example: {
                success: true,
                halted: ['TSLA'],
                frozen: [],
                kill_switches: [],
                limits: [
                  {
                    account_id: '5d0e7c1a-3b8f-4f7a-8f0c-9a2e6b1d4c33',
                    max_order_notional: '50000.00',
                    max_open_orders: 20,
                    max_position: null,
                    max_daily_notional: null,
                  },
                ],
              },
            },
          },
        },
      },
    }),
    async (c) => {
      const s = await controlsInForce(db);
      const usd = (v: bigint | null) => (v === null ? null : formatDecimal(v, CASH_SCALE));
      return c.json(
        {
          success: true as const,
          halted: s.halted,
          frozen: s.frozen,
          kill_switches: s.killSwitches.map((k) => ({
            scope: k.scope,
            engaged_at: k.engagedAt.toISOString(),
            engaged_by: k.engagedBy,
            reason: k.reason,
          })),
          limits: s.limits.map((l) => ({
            account_id: l.accountId,
            max_order_notional: usd(l.maxOrderNotional),
            max_open_orders: l.maxOpenOrders,
            max_position: l.maxPosition === null ? null : Number(l.maxPosition),
            max_daily_notional: usd(l.maxDailyNotional),
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/admin/audit',
      operationId: 'listAdminAudit',
      errors: [403],
      tag: 'admin',
      auth: 'bearer',
      summary: 'Every operator action, newest first: who, when, what, why, and what it cancelled',
      request: {
        query: z.object({
          limit: z.coerce.number().int().min(1).max(200).default(50),
          cursor: z
            .string()
            .regex(/^[0-9]{1,19}$/, { message: 'is invalid', abort: true })
            .refine((s) => BigInt(s) <= INT64_MAX, 'is invalid') // a bigint id
            .optional(),
        }),
      },
      responses: {
        200: {
          description: 'A page of the audit trail',
          content: {
            'application/json': {
              schema: z.object({
                success: z.literal(true),
                entries: z.array(AuditEntry),
                next_cursor: z.string().nullable(),
              }),
              example: { success: true, entries: [AUDIT_EXAMPLE], next_cursor: null },
            },
          },
        },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await listAudit(db, { limit: q.limit, beforeId: q.cursor ? BigInt(q.cursor) : undefined });
      const next = rows.length === q.limit ? rows[rows.length - 1]!.id.toString() : null;
      return c.json({ success: true as const, entries: rows.map(auditJson), next_cursor: next }, 200);
    },
  );

  return app;
}
