/**
 * The caller's statement for a period: per asset (USD, then each symbol) the opening balance, every
 * ledger posting with its journal entry and the running balance, and the closing balance, available and
 * reserved apart. JSON by default, CSV (exact decimal strings) with `Accept: text/csv`.
 */
import { z } from '@hono/zod-openapi';
import { CASH_ASSET } from '../../db/accounts.js';
import { statementOf, type Buckets, type StatementAsset } from '../../db/queries/statement.js';
import { CASH_SCALE, exactNumber, formatDecimal, toJsonNumber } from '../../lib/money.js';
import { requireAuth } from '../auth/middleware.js';
import { apiRoute, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import { queryDateTime } from '../input-guard.js';
import type { ApiDeps } from '../types.js';

const DAY_MS = 86_400_000;
/** The default period ends now and spans this many days; a statement spans at most MAX_DAYS. */
const DEFAULT_DAYS = 30;
const MAX_DAYS = 366;

const BalanceSchema = z.object({ available: z.number(), reserved: z.number(), total: z.number() });
const LineSchema = z.object({
  entry_id: z.string().openapi({ description: 'The journal entry this line belongs to' }),
  kind: z.string().openapi({ description: 'deposit, withdrawal, reserve, release or trade' }),
  reference: z.string().openapi({
    description:
      'What caused it. deposit, withdrawal: the transfer id; trade: the trade id; reserve at placement: the order id; reserve or release by a replace: <order id>:v<n> (n the version the replace made); release of what an order that ended (filled, cancelled, expired) still held: <order id>:close; release when a placement is undone (compensation): <order id>:compensation',
  }),
  posted_at: z.string(),
  available_change: z.number(),
  reserved_change: z.number(),
  change: z.number(),
  available: z.number(),
  reserved: z.number(),
  balance: z.number().openapi({ description: 'Running total (available + reserved) after this line' }),
});
const StatementSchema = z
  .object({
    success: z.literal(true),
    account_id: z.string(),
    from: z.string(),
    to: z.string(),
    assets: z.array(
      z.object({
        asset: z
          .string()
          .openapi({ description: 'USD (amounts in dollars) or a symbol (amounts in shares)' }),
        opening: BalanceSchema,
        postings: z.array(LineSchema),
        closing: BalanceSchema,
      }),
    ),
  })
  .openapi('Statement');

const STATEMENT_EXAMPLE = {
  success: true,
  account_id: '5d0e7c1a-3b8f-4f7a-8f0c-9a2e6b1d4c33',
  from: '2026-02-01T00:00:00.000Z',
  to: '2026-03-02T00:00:00.000Z',
  assets: [
    {
      asset: 'USD',
      opening: { available: 0, reserved: 0, total: 0 },
      postings: [
        {
          entry_id: '41',
          kind: 'deposit',
          reference: '7e1f0c2a-5b3d-4c8e-9f1a-2b3c4d5e6f70',
          posted_at: '2026-02-03T09:15:00.000Z',
          available_change: 10000,
          reserved_change: 0,
          change: 10000,
          available: 10000,
          reserved: 0,
          balance: 10000,
        },
      ],
      closing: { available: 10000, reserved: 0, total: 10000 },
    },
  ],
} as const satisfies z.infer<typeof StatementSchema>;

const StatementQuery = z.object({
  from: queryDateTime
    .optional()
    .openapi({ description: `Start, inclusive (default: ${DEFAULT_DAYS} days before to)` }),
  to: queryDateTime.optional().openapi({ description: 'End, exclusive (default: now)' }),
});

const CSV_COLUMNS = [
  'asset',
  'line',
  'posted_at',
  'entry_id',
  'kind',
  'reference',
  'available_change',
  'reserved_change',
  'change',
  'available',
  'reserved',
  'balance',
];

function period(q: { from?: string; to?: string }, now: Date): { from: Date; to: Date } {
  const to = q.to ? new Date(q.to) : now;
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_DAYS * DAY_MS);
  if (from >= to) throw new ApiError('validation_failed', 'Validation failed', ['from: must be before to']);
  if (to.getTime() - from.getTime() > MAX_DAYS * DAY_MS)
    throw new ApiError('validation_failed', 'Validation failed', [
      `to: a statement spans at most ${MAX_DAYS} days`,
    ]);
  return { from, to };
}

const scaleOf = (asset: string) => (asset === CASH_ASSET ? CASH_SCALE : 0);

function statementJson(accountId: string, from: Date, to: Date, assets: StatementAsset[]) {
  return {
    success: true as const,
    account_id: accountId,
    from: from.toISOString(),
    to: to.toISOString(),
    assets: assets.map((a) => {
      const n = (v: bigint) => (a.asset === CASH_ASSET ? toJsonNumber(v, CASH_SCALE) : exactNumber(v));
      const balance = (b: Buckets) => ({
        available: n(b.available),
        reserved: n(b.reserved),
        total: n(b.available + b.reserved),
      });
      return {
        asset: a.asset,
        opening: balance(a.opening),
        postings: a.lines.map((l) => ({
          entry_id: l.entryId.toString(),
          kind: l.kind,
          reference: l.reference,
          posted_at: l.postedAt.toISOString(),
          available_change: n(l.change.available),
          reserved_change: n(l.change.reserved),
          change: n(l.change.available + l.change.reserved),
          available: n(l.balance.available),
          reserved: n(l.balance.reserved),
          balance: n(l.balance.available + l.balance.reserved),
        })),
        closing: balance(a.closing),
      };
    }),
  };
}

const csvField = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/** The same statement as CSV: an opening row, one row per posting and a closing row per asset. */
export function statementCsv(from: Date, to: Date, assets: StatementAsset[]): string {
  const rows = [CSV_COLUMNS];
  for (const a of assets) {
    const d = (v: bigint) => formatDecimal(v, scaleOf(a.asset));
    const totals = (b: Buckets) => [d(b.available), d(b.reserved), d(b.available + b.reserved)];
    rows.push([a.asset, 'opening', from.toISOString(), '', '', '', '', '', '', ...totals(a.opening)]);
    for (const l of a.lines) {
      const c = l.change;
      rows.push([
        a.asset,
        'posting',
        l.postedAt.toISOString(),
        l.entryId.toString(),
        l.kind,
        l.reference,
        d(c.available),
        d(c.reserved),
        d(c.available + c.reserved),
        ...totals(l.balance),
      ]);
    }
    rows.push([a.asset, 'closing', to.toISOString(), '', '', '', '', '', '', ...totals(a.closing)]);
  }
  return rows.map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export function statementRoutes(deps: ApiDeps) {
  const db = deps.database.db;
  const app = createRouter();
  app.use('/api/v1/statement', requireAuth(deps));

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/statement',
      operationId: 'getStatement',
      tag: 'funding',
      auth: 'bearer',
      summary:
        'Statement: opening, every posting with its running balance, closing; per asset (Accept: text/csv for CSV)',
      request: { query: StatementQuery },
      responses: {
        200: {
          description: 'The statement of the period [from, to)',
          sends: ['Content-Disposition'],
          content: {
            'application/json': { schema: StatementSchema, example: STATEMENT_EXAMPLE },
            'text/csv': {
              schema: z
                .string()
                .openapi({ description: `Columns: ${CSV_COLUMNS.join(', ')}; amounts as exact decimals` }),
              example: [
                CSV_COLUMNS.join(','),
                'USD,opening,2026-02-01T00:00:00.000Z,,,,,,,0.00,0.00,0.00',
                'USD,posting,2026-02-03T09:15:00.000Z,41,deposit,7e1f0c2a-5b3d-4c8e-9f1a-2b3c4d5e6f70,10000.00,0.00,10000.00,10000.00,0.00,10000.00',
                'USD,closing,2026-03-02T00:00:00.000Z,,,,,,,10000.00,0.00,10000.00',
                '',
              ].join('\r\n'),
            },
          },
        },
      },
      errors: [],
    }),
    async (c) => {
      const accountId = c.get('principal').accountId;
      const { from, to } = period(c.req.valid('query'), deps.now());
      const assets = await statementOf(db, { accountId, from, to });
      if (/\btext\/csv\b/i.test(c.req.header('accept') ?? '')) {
        const name = `statement-${from.toISOString().slice(0, 10)}-${to.toISOString().slice(0, 10)}.csv`;
        c.header('content-disposition', `attachment; filename="${name}"`);
        return c.body(statementCsv(from, to, assets), 200, { 'content-type': 'text/csv; charset=utf-8' });
      }
      return c.json(statementJson(accountId, from, to, assets), 200);
    },
  );
  return app;
}
