/**
 * Deposits and withdrawals: one double-entry ledger transaction each (external counterparty <-> the
 * client's available cash), made idempotent by a required `Idempotency-Key` header scoped to the account:
 * - same key, same request: the first response again (200, header `Idempotent-Replayed: true`), nothing new;
 * - same key, other request (or the other route): 422 `idempotency_mismatch`;
 * - same key while the first request is still running: 409 `idempotency_in_progress`;
 * - keys are remembered IDEMPOTENCY_TTL_SECONDS (24 h by default); a request that fails with a 4xx
 *   changes nothing and releases its key.
 */
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ZodError } from 'zod';
import {
  accountStatusHoldingControlLock,
  listTransfers,
  transferCash,
  type Direction,
  type TransferRow,
} from '../../db/queries/funding.js';
import { completeIdempotencyKey, lockClaim, releaseIdempotencyKey } from '../../db/queries/idempotency.js';
import { InsufficientBalanceError } from '../../db/queries/ledger.js';
import { CASH_SCALE, formatDecimal, parseDecimal, toJsonNumber } from '../../lib/money.js';
import { requireAuth } from '../auth/middleware.js';
import {
  IDEMPOTENCY_KEY_PATTERN,
  IDEMPOTENCY_KEY_RULE,
  checkIdempotencyKey,
  claimOrReplay,
  idempotencyInProgress,
  requestHash,
} from '../idempotency.js';
import { apiRoute, boundedDecimal, createRouter, validationError, zodErrors } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps, AppEnv } from '../types.js';

/** Largest single deposit or withdrawal: USD 1,000,000.00 (in cents). */
export const MAX_TRANSFER_CENTS = 100_000_000n;
const LIST_LIMIT = 20;

const TransferBody = z
  .object({
    amount: boundedDecimal({
      scale: CASH_SCALE,
      max: MAX_TRANSFER_CENTS,
      example: '100.50',
      description: 'USD',
    }),
    currency: z
      .string()
      .trim()
      .toUpperCase()
      .pipe(z.literal('USD', { message: 'only USD is supported' }))
      .optional()
      .openapi({ type: 'string', example: 'USD', description: 'USD only (the default)' }),
  })
  .strict()
  .openapi('CashTransferRequest');

const TransferItem = z.object({
  id: z.string(),
  transaction_id: z.string(),
  type: z.enum(['deposit', 'withdrawal']),
  amount: z.number(),
  amount_decimal: z.string(),
  currency: z.literal('USD'),
  status: z.string(),
  balance_after: z.number(),
  balance_after_decimal: z.string(),
  created_at: z.string(),
});
const TransferSchema = TransferItem.extend({ success: z.literal(true) }).openapi('CashTransfer');

const IdempotencyHeader = z.object({
  'idempotency-key': z.string().regex(IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_KEY_RULE).openapi({
    description:
      'Required. 1-128 characters [A-Za-z0-9._:-], unique per operation; remembered for 24 hours per account.',
    example: '3f2b5c9e-2d1a-4c55-9a0e-8f1b2c3d4e5f',
  }),
});

const TRANSFER_EXAMPLE = {
  id: '7e1f0c2a-5b3d-4c8e-9f1a-2b3c4d5e6f70',
  transaction_id: '7e1f0c2a-5b3d-4c8e-9f1a-2b3c4d5e6f70',
  type: 'deposit',
  amount: 100.5,
  amount_decimal: '100.50',
  currency: 'USD',
  status: 'settled',
  balance_after: 10100.5,
  balance_after_decimal: '10100.50',
  created_at: '2026-03-02T14:30:00.000Z',
} as const satisfies z.infer<typeof TransferItem>;
const transferExample = (direction: Direction) => ({
  ...TRANSFER_EXAMPLE,
  type: direction,
  balance_after: direction === 'deposit' ? 10100.5 : 9899.5,
  balance_after_decimal: direction === 'deposit' ? '10100.50' : '9899.50',
});

function transferItem(row: TransferRow): z.infer<typeof TransferItem> {
  return {
    id: row.id,
    transaction_id: row.id,
    type: row.direction,
    amount: toJsonNumber(row.amount, CASH_SCALE),
    amount_decimal: formatDecimal(row.amount, CASH_SCALE),
    currency: 'USD',
    status: row.status,
    balance_after: toJsonNumber(row.balanceAfter, CASH_SCALE),
    balance_after_decimal: formatDecimal(row.balanceAfter, CASH_SCALE),
    created_at: row.createdAt.toISOString(),
  };
}

/** Amount in cents: positive, at most 2 decimals, at most MAX_TRANSFER_CENTS. */
export function parseTransferAmount(input: unknown): bigint {
  const parsed = parseDecimal(input, CASH_SCALE);
  let error: string | undefined;
  if (!parsed.ok) error = parsed.error;
  else if (parsed.value <= 0n) error = 'must be positive';
  else if (parsed.value > MAX_TRANSFER_CENTS)
    error = `must be at most ${formatDecimal(MAX_TRANSFER_CENTS, CASH_SCALE)}`;
  if (error || !parsed.ok) throw new ApiError('validation_failed', 'Validation failed', [`amount: ${error}`]);
  return parsed.value;
}

export function idempotencyKeyOf(header: string | undefined): string {
  if (header === undefined || header === '')
    throw new ApiError('bad_request', 'The Idempotency-Key header is required for deposits and withdrawals');
  return checkIdempotencyKey(header);
}

export function fundingRoutes(deps: ApiDeps) {
  const { config, logger } = deps;
  const db = deps.database.db;
  const app = createRouter();
  for (const path of ['/api/v1/deposits', '/api/v1/withdrawals']) app.use(path, requireAuth(deps));

  const move = async (c: Context<AppEnv>, direction: Direction, body: z.infer<typeof TransferBody>) => {
    const { accountId } = c.get('principal');
    const key = idempotencyKeyOf(c.req.header('idempotency-key'));
    const amount = parseTransferAmount(body.amount);
    const now = deps.now();

    const claim = await claimOrReplay(db, {
      accountId,
      key,
      scope: direction,
      requestHash: requestHash(`${direction}|${amount}|USD`),
      now,
      ttlSeconds: config.IDEMPOTENCY_TTL_SECONDS,
    });
    if (claim.kind === 'replay') {
      c.header('idempotent-replayed', 'true');
      return { body: claim.body as z.infer<typeof TransferSchema>, status: 200 as const };
    }
    const fence = { accountId, key, claimedAt: claim.claimedAt };
    try {
      const result = await db.transaction(async (tx) => {
        if (!(await lockClaim(tx, fence))) throw idempotencyInProgress();
        if ((await accountStatusHoldingControlLock(tx, accountId)) !== 'active')
          throw new ApiError('forbidden', 'The account is not active');
        const row = await transferCash(tx, { accountId, direction, amount, now });
        const response = { success: true as const, ...transferItem(row) };
        await completeIdempotencyKey(tx, { accountId, key, status: 201, body: response });
        return response;
      });
      return { body: result, status: 201 as const };
    } catch (err) {
      await releaseIdempotencyKey(db, fence).catch((e: unknown) =>
        logger.warn('idempotency release failed', { err: e }),
      );
      if (err instanceof InsufficientBalanceError)
        throw new ApiError('validation_failed', 'Insufficient funds', ['Insufficient funds']);
      throw err;
    }
  };

  const listRoute = (direction: Direction, path: string, listName: 'deposits' | 'withdrawals') =>
    apiRoute({
      method: 'get',
      path,
      operationId: direction === 'deposit' ? 'listDeposits' : 'listWithdrawals',
      tag: 'funding',
      auth: 'bearer',
      summary: `The ${LIST_LIMIT} latest ${listName}, newest first`,
      responses: {
        200: {
          description: `Latest ${listName}`,
          content: {
            'application/json': {
              schema: z.object({ success: z.literal(true), [listName]: z.array(TransferItem) }),
              example: { success: true, [listName]: [transferExample(direction)] },
            },
          },
        },
      },
      errors: [],
    });

  const postRoute = (direction: Direction, path: string) =>
    apiRoute({
      method: 'post',
      path,
      operationId: direction === 'deposit' ? 'deposit' : 'withdraw',
      tag: 'funding',
      auth: 'bearer',
      summary:
        direction === 'deposit'
          ? 'Deposit USD (settled at once; amount > 0, at most 2 decimals, at most 1,000,000.00)'
          : 'Withdraw USD from available cash (422 "Insufficient funds" otherwise)',
      request: {
        headers: IdempotencyHeader,
        body: {
          content: {
            'application/json': { schema: TransferBody, example: { amount: '100.50', currency: 'USD' } },
          },
          required: true,
        },
      },
      responses: {
        201: {
          description: 'Settled',
          content: {
            'application/json': {
              schema: TransferSchema,
              example: { success: true, ...transferExample(direction) },
            },
          },
        },
        200: {
          description: 'Replay of an earlier request with the same Idempotency-Key: the first answer again',
          sends: ['Idempotent-Replayed'],
          content: {
            'application/json': {
              schema: TransferSchema,
              example: { success: true, ...transferExample(direction) },
            },
          },
        },
      },
      errors: [403, 409],
    });

  /** A missing or malformed Idempotency-Key is a 400 (the request cannot be processed safely), not a 422. */
  const headerHook = (
    result: { success: true } | { success: false; error: ZodError; target: string },
  ): undefined => {
    if (result.success) return undefined;
    if (result.target === 'header')
      throw new ApiError(
        'bad_request',
        'A valid Idempotency-Key header is required for deposits and withdrawals',
        zodErrors(result.error),
      );
    throw validationError(result.error, result.target);
  };

  app.openapi(
    postRoute('deposit', '/api/v1/deposits'),
    async (c) => {
      const { body, status } = await move(c, 'deposit', c.req.valid('json'));
      return c.json(body, status);
    },
    headerHook,
  );
  app.openapi(
    postRoute('withdrawal', '/api/v1/withdrawals'),
    async (c) => {
      const { body, status } = await move(c, 'withdrawal', c.req.valid('json'));
      return c.json(body, status);
    },
    headerHook,
  );

  app.openapi(listRoute('deposit', '/api/v1/deposits', 'deposits'), async (c) => {
    const rows = await listTransfers(db, {
      accountId: c.get('principal').accountId,
      direction: 'deposit',
      limit: LIST_LIMIT,
    });
    return c.json({ success: true as const, deposits: rows.map(transferItem) }, 200);
  });
  app.openapi(listRoute('withdrawal', '/api/v1/withdrawals', 'withdrawals'), async (c) => {
    const rows = await listTransfers(db, {
      accountId: c.get('principal').accountId,
      direction: 'withdrawal',
      limit: LIST_LIMIT,
    });
    return c.json({ success: true as const, withdrawals: rows.map(transferItem) }, 200);
  });

  return app;
}
