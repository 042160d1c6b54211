/**
 * The caller's portfolio: cash (available, reserved for open buy orders, total) and positions per
 * symbol, read in one statement so cash and positions are one consistent snapshot.
 */
import { z } from '@hono/zod-openapi';
import { CASH_ASSET } from '../../db/accounts.js';
import { portfolioOf } from '../../db/queries/funding.js';
import { CASH_SCALE, exactNumber, formatDecimal, toJsonNumber } from '../../lib/money.js';
import { requireAuth } from '../auth/middleware.js';
import { apiRoute, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';

const PositionSchema = z.object({
  symbol: z.string(),
  quantity: z.number().openapi({ description: 'Shares held: available + reserved' }),
  available: z.number(),
  reserved: z.number().openapi({ description: 'Shares reserved by open sell orders' }),
});

const PortfolioSchema = z
  .object({
    success: z.literal(true),
    account_id: z.string(),
    account_status: z.string(),
    currency: z.literal('USD'),
    available_balance: z.number(),
    reserved_balance: z.number(),
    total_balance: z.number(),
    balances_decimal: z.object({ available: z.string(), reserved: z.string(), total: z.string() }),
    positions: z.array(PositionSchema),
  })
  .openapi('Portfolio');

export function portfolioRoutes(deps: ApiDeps) {
  const db = deps.database.db;
  const app = createRouter();
  app.use('/api/v1/portfolio', requireAuth(deps));

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/portfolio',
      operationId: 'getPortfolio',
      tag: 'funding',
      auth: 'bearer',
      summary: 'Cash balances and positions of the caller',
      responses: {
        200: {
          description: 'Portfolio',
          content: {
            'application/json': {
              schema: PortfolioSchema,
              example: {
                success: true,
                account_id: '5d0e7c1a-3b8f-4f7a-8f0c-9a2e6b1d4c33',
                account_status: 'active',
                currency: 'USD',
                available_balance: 8150,
                reserved_balance: 1850,
                total_balance: 10000,
                balances_decimal: { available: '8150.00', reserved: '1850.00', total: '10000.00' },
                positions: [{ symbol: 'MSFT', quantity: 20, available: 15, reserved: 5 }],
              },
            },
          },
        },
      },
      errors: [404],
    }),
    async (c) => {
      const snapshot = await portfolioOf(db, c.get('principal').accountId);
      if (!snapshot) throw new ApiError('not_found', 'Account not found');
      const cash = snapshot.balances.find((b) => b.asset === CASH_ASSET) ?? { available: 0n, reserved: 0n };
      const total = cash.available + cash.reserved;
      const positions = snapshot.balances
        .filter((b) => b.asset !== CASH_ASSET && b.available + b.reserved > 0n)
        .map((b) => ({
          symbol: b.asset,
          quantity: exactNumber(b.available + b.reserved),
          available: exactNumber(b.available),
          reserved: exactNumber(b.reserved),
        }));
      return c.json(
        {
          success: true as const,
          account_id: snapshot.account.id,
          account_status: snapshot.account.status,
          currency: 'USD' as const,
          available_balance: toJsonNumber(cash.available, CASH_SCALE),
          reserved_balance: toJsonNumber(cash.reserved, CASH_SCALE),
          total_balance: toJsonNumber(total, CASH_SCALE),
          balances_decimal: {
            available: formatDecimal(cash.available, CASH_SCALE),
            reserved: formatDecimal(cash.reserved, CASH_SCALE),
            total: formatDecimal(total, CASH_SCALE),
          },
          positions,
        },
        200,
      );
    },
  );
  return app;
}
