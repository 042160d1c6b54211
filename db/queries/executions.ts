/**
 * Executions: one per order per trade, read from `trades` by the account of either side (a trade between
 * two orders of one account is two executions). Newest first, keyset-paginated on
 * (executed_at, trade id, order id); `executed_at` travels as epoch microseconds so no page boundary
 * loses Postgres's sub-millisecond precision.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Side } from '../../temporal/orders.js';
import { epochMicros, fromEpochMicros, type DbOrTx } from '../client.js';

export interface ExecutionRow {
  executionId: string;
  tradeId: string;
  orderId: string;
  symbol: string;
  side: Side;
  quantity: bigint;
  price: bigint;
  liquidity: 'maker' | 'taker';
  executedAt: Date;
  /** executed_at in microseconds since the epoch: the exact keyset position. */
  executedAtMicros: bigint;
}

/** The position of an execution in the newest-first order. */
export interface ExecutionKey {
  executedAtMicros: bigint;
  tradeId: string;
  orderId: string;
}

export interface ExecutionFilter {
  accountId: string;
  symbol?: string;
  orderId?: string;
  /** executed_at >= from */
  from?: Date;
  /** executed_at < to */
  to?: Date;
  limit: number;
  /** Rows strictly after this one in the newest-first order (the previous page's last row). */
  after?: ExecutionKey;
}

/**
 * The account's executions. Each side is one range of its index (`trades_buy_account_idx`,
 * `trades_sell_account_idx`: account, executed_at, trade id, order id), read backward from the cursor
 * on, so in the page's order, and limited; the two ranges are merged in that order, without a sort.
 */
export async function listExecutions(db: DbOrTx, f: ExecutionFilter): Promise<ExecutionRow[]> {
  const branch = (side: Side): SQL => {
    const [account, order] =
      side === 'buy'
        ? [sql`t.buy_account_id`, sql`t.buy_order_id`]
        : [sql`t.sell_account_id`, sql`t.sell_order_id`];
    const conds: SQL[] = [sql`${account} = ${f.accountId}::uuid`];
    if (f.symbol) conds.push(sql`t.symbol = ${f.symbol}`);
    if (f.orderId) conds.push(sql`${order} = ${f.orderId}::uuid`);
    if (f.from) conds.push(sql`t.executed_at >= ${f.from.toISOString()}::timestamptz`);
    if (f.to) conds.push(sql`t.executed_at < ${f.to.toISOString()}::timestamptz`);
    if (f.after) {
      const a = f.after;
      conds.push(
        sql`(t.executed_at, t.id, ${order}) < (${fromEpochMicros(a.executedAtMicros)}, ${a.tradeId}::uuid, ${a.orderId}::uuid)`,
      );
    }
    return sql`(SELECT t.id AS trade_id, ${order} AS order_id, t.symbol, ${side}::text AS side, t.quantity, t.price,
                       t.maker_order_id = ${order} AS maker, t.executed_at,
                       ${epochMicros(sql`t.executed_at`)} AS micros
                  FROM trades t
                 WHERE ${sql.join(conds, sql` AND `)}
                 ORDER BY t.executed_at DESC, t.id DESC, ${order} DESC
                 LIMIT ${f.limit})`;
  };
  const rows = await db.execute<{
    trade_id: string;
    order_id: string;
    symbol: string;
    side: Side;
    quantity: bigint | string;
    price: bigint | string;
    maker: boolean;
    executed_at: Date | string;
    micros: bigint | string;
    execution_id: string;
  }>(sql`
    SELECT e.*, md5(e.trade_id::text || ':' || e.order_id::text)::uuid::text AS execution_id
      FROM (${branch('buy')} UNION ALL ${branch('sell')}) e
     ORDER BY e.executed_at DESC, e.trade_id DESC, e.order_id DESC
     LIMIT ${f.limit}`);
  return rows.map((r) => ({
    executionId: r.execution_id,
    tradeId: r.trade_id,
    orderId: r.order_id,
    symbol: r.symbol,
    side: r.side,
    quantity: BigInt(r.quantity),
    price: BigInt(r.price),
    liquidity: r.maker ? 'maker' : 'taker',
    executedAt: new Date(r.executed_at),
    executedAtMicros: BigInt(r.micros),
  }));
}
