/**
 * The caller's statement for a period: per asset (USD, then each symbol) the opening balance, every
 * ledger posting with its journal entry and the running balance, and the closing balance, available and
 * reserved apart. JSON by default, CSV (exact decimal strings) with `Accept: text/csv`.
 *
 * In pages of at most `limit` lines (all assets together, in time order), each with the opening before
 * its first line and the closing after its last, so the first page's openings and the last page's
 * closings are the period's. `next_cursor` (JSON) and `Link: <...>; rel="next"` (JSON and CSV) name the
 * next page; the cursor carries the period and the balances where the page ended, signed (HMAC under
 * SIGNING_KEY_SECRET, bound to the account), so a page never sums the lines before it and a client cannot
 * make the API state balances of its own.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { CASH_ASSET } from '../../db/accounts.js';
import {
  statementOf,
  type Buckets,
  type StatementAsset,
  type StatementCursor,
} from '../../db/queries/statement.js';
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
/** Lines per page: the default and the most a page holds. */
const DEFAULT_LIMIT = 500;
const MAX_LIMIT = 2000;

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
        opening: BalanceSchema.openapi({
          description: "Before this page's first line: on the first page, the balance at from",
        }),
        postings: z.array(LineSchema),
        closing: BalanceSchema.openapi({
          description: "After this page's last line: on the last page, the balance at to",
        }),
      }),
    ),
    next_cursor: z.string().nullable().openapi({
      description: 'The next page (pass it as cursor); null on the last page',
    }),
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
  next_cursor: null,
} as const satisfies z.infer<typeof StatementSchema>;

const StatementQuery = z.object({
  from: queryDateTime
    .optional()
    .openapi({ description: `Start, inclusive (default: ${DEFAULT_DAYS} days before to)` }),
  to: queryDateTime.optional().openapi({ description: 'End, exclusive (default: now)' }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_LIMIT)
    .default(DEFAULT_LIMIT)
    .openapi({ description: 'Lines per page, all assets together' }),
  cursor: z.string().max(4000).optional().openapi({
    description:
      'next_cursor of the previous page; it carries the period (from and to may be left out, else must be the same)',
  }),
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

/** A cursor: its period, the last line's position and every non-zero balance there, then its MAC. */
interface PageCursor extends StatementCursor {
  from: Date;
  to: Date;
}

const invalidCursor = () => new ApiError('validation_failed', 'Validation failed', ['cursor: is invalid']);
const INTEGER = /^-?\d{1,19}$/;

function cursorMac(secret: string, accountId: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(`statement|${accountId}|${payload}`).digest().subarray(0, 16);
}

export function encodeCursor(secret: string, accountId: string, c: PageCursor): string {
  const balances = Object.entries(c.balances)
    .filter(([, b]) => b.available !== 0n || b.reserved !== 0n)
    .map(([asset, b]) => `${asset}:${b.available}:${b.reserved}`)
    .join(',');
  const k = c.key;
  const payload = [c.from.getTime(), c.to.getTime(), k.postedAtMicros, k.entryId, k.asset, balances].join(
    '|',
  );
  const mac = cursorMac(secret, accountId, payload).toString('base64url');
  return Buffer.from(`${payload}|${mac}`).toString('base64url');
}

/** A cursor this api handed to this account, else 422: its MAC is checked before anything in it is read. */
export function decodeCursor(secret: string, accountId: string, cursor: string): PageCursor {
  const text = Buffer.from(cursor, 'base64url').toString();
  const cut = text.lastIndexOf('|');
  const payload = text.slice(0, cut);
  const mac = Buffer.from(text.slice(cut + 1), 'base64url');
  const expected = cursorMac(secret, accountId, payload);
  if (cut < 0 || mac.length !== expected.length || !timingSafeEqual(mac, expected)) throw invalidCursor();
  const [from, to, micros, entryId, asset, balances, rest] = payload.split('|');
  if (
    rest !== undefined ||
    !from ||
    !to ||
    !micros ||
    !entryId ||
    !asset ||
    balances === undefined ||
    ![from, to, micros, entryId].every((v) => INTEGER.test(v))
  )
    throw invalidCursor();
  const held: Record<string, Buckets> = {};
  for (const b of balances ? balances.split(',') : []) {
    const [name, available, reserved, more] = b.split(':');
    if (!name || more !== undefined || !INTEGER.test(available ?? '') || !INTEGER.test(reserved ?? ''))
      throw invalidCursor();
    held[name] = { available: BigInt(available!), reserved: BigInt(reserved!) };
  }
  return {
    from: new Date(Number(from)),
    to: new Date(Number(to)),
    key: { postedAtMicros: BigInt(micros), entryId: BigInt(entryId), asset },
    balances: held,
  };
}

/** The page's period: a cursor's own; from and to sent with it must be the same instants. */
function pagePeriod(q: { from?: string; to?: string }, cursor: PageCursor): { from: Date; to: Date } {
  const same = (sent: string | undefined, d: Date) => sent === undefined || Date.parse(sent) === d.getTime();
  if (!same(q.from, cursor.from) || !same(q.to, cursor.to))
    throw new ApiError('validation_failed', 'Validation failed', [
      'cursor: belongs to another period (leave out from and to, or send the same)',
    ]);
  return { from: cursor.from, to: cursor.to };
}

const scaleOf = (asset: string) => (asset === CASH_ASSET ? CASH_SCALE : 0);

function statementJson(
  accountId: string,
  from: Date,
  to: Date,
  assets: StatementAsset[],
  nextCursor: string | null,
) {
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
    next_cursor: nextCursor,
  };
}

const csvField = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/**
 * The same page as CSV: the column row, then per asset an opening row, one row per posting of the page and
 * a closing row. Each page is a whole CSV file of its own; the next one is named by the Link header. The
 * opening is dated `from` on the first page only and the closing `to` on the last page only: elsewhere
 * they are the balances before and after the page's lines, at no date of the period (`undefined`: empty).
 */
export function statementCsv(from: Date | undefined, to: Date | undefined, assets: StatementAsset[]): string {
  const rows = [CSV_COLUMNS];
  for (const a of assets) {
    const d = (v: bigint) => formatDecimal(v, scaleOf(a.asset));
    const totals = (b: Buckets) => [d(b.available), d(b.reserved), d(b.available + b.reserved)];
    rows.push([a.asset, 'opening', from?.toISOString() ?? '', '', '', '', '', '', '', ...totals(a.opening)]);
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
    rows.push([a.asset, 'closing', to?.toISOString() ?? '', '', '', '', '', '', '', ...totals(a.closing)]);
  }
  return rows.map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export function statementRoutes(deps: ApiDeps) {
  const db = deps.database.db;
  const secret = deps.config.SIGNING_KEY_SECRET;
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
        'Statement: opening, every posting with its running balance, closing; per asset, in pages (Accept: text/csv for CSV)',
      description: [
        `The period [from, to) spans at most ${MAX_DAYS} days. Its lines (all assets together, in time order) come in pages of at most \`limit\`: each page has, per asset, the opening before its first line and the closing after its last, so the first page's openings are the balances at from and the last page's closings those at to.`,
        'While more lines follow, `next_cursor` (JSON) and the `Link` header (`rel="next"`, JSON and CSV) name the next page: the same request with `cursor`, which carries the period (from and to may be left out). Each CSV page is a whole file: the column row, then per asset its opening, the page\'s postings and its closing (the opening dated from on the first page only, the closing dated to on the last page only; elsewhere their date is empty). A cursor that this api did not hand to this account is 422 `validation_failed`.',
      ].join('\n\n'),
      request: { query: StatementQuery },
      responses: {
        200: {
          description: 'A page of the statement of the period [from, to)',
          sends: ['Content-Disposition', 'Link'],
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
      const q = c.req.valid('query');
      const after = q.cursor ? decodeCursor(secret, accountId, q.cursor) : undefined;
      const { from, to } = after ? pagePeriod(q, after) : period(q, deps.now());
      const page = await statementOf(db, { accountId, from, to, limit: q.limit, after });
      const next = page.next ? encodeCursor(secret, accountId, { from, to, ...page.next }) : null;
      if (next) {
        const url = new URL(c.req.url);
        url.searchParams.delete('from');
        url.searchParams.delete('to');
        url.searchParams.set('cursor', next);
        c.header('link', `<${url.pathname}${url.search}>; rel="next"`);
      }
      if (/\btext\/csv\b/i.test(c.req.header('accept') ?? '')) {
        const name = `statement-${from.toISOString().slice(0, 10)}-${to.toISOString().slice(0, 10)}.csv`;
        c.header('content-disposition', `attachment; filename="${name}"`);
        return c.body(statementCsv(after ? undefined : from, next ? undefined : to, page.assets), 200, {
          'content-type': 'text/csv; charset=utf-8',
        });
      }
      return c.json(statementJson(accountId, from, to, page.assets, next), 200);
    },
  );
  return app;
}
