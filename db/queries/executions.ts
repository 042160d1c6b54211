/**
 * Executions: one per order per trade, read from `trades` joined with the caller's own orders (a trade
 * between two orders of one account is two executions). Newest first, keyset-paginated on
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
 * The account's executions. Each side is one join from the account's orders (orders_account_idx) to
 * trades by order (trades_buy_idx, trades_sell_idx); each branch is ordered and limited before the merge.
 */
export async function listExecutions(db: DbOrTx, f: ExecutionFilter): Promise<ExecutionRow[]> {
  const branch = (side: Side): SQL => {
    const join = side === 'buy' ? sql`t.buy_order_id = o.id` : sql`t.sell_order_id = o.id`;
    const conds: SQL[] = [sql`o.account_id = ${f.accountId}::uuid`, sql`o.side = ${side}`];
    if (f.symbol) conds.push(sql`o.symbol = ${f.symbol}`);
    if (f.orderId) conds.push(sql`o.id = ${f.orderId}::uuid`);
    if (f.from) conds.push(sql`t.executed_at >= ${f.from.toISOString()}::timestamptz`);
    if (f.to) conds.push(sql`t.executed_at < ${f.to.toISOString()}::timestamptz`);
    if (f.after) {
      const a = f.after;
      conds.push(
        sql`(t.executed_at, t.id, o.id) < (${fromEpochMicros(a.executedAtMicros)}, ${a.tradeId}::uuid, ${a.orderId}::uuid)`,
      );
    }
    return sql`(SELECT t.id AS trade_id, o.id AS order_id, o.symbol, o.side, t.quantity, t.price,
                       t.maker_order_id = o.id AS maker, t.executed_at,
                       ${epochMicros(sql`t.executed_at`)} AS micros
                  FROM orders o JOIN trades t ON ${join}
                 WHERE ${sql.join(conds, sql` AND `)}
                 ORDER BY t.executed_at DESC, t.id DESC, o.id DESC
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
