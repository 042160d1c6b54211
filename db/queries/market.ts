/** Market data from Postgres, the source of truth behind the books: aggregated depth and last trades. */
import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import type { Side } from '../../temporal/orders.js';

export interface Level {
  price: bigint;
  quantity: bigint;
  orders: number;
}

export async function bookDepth(
  db: DbOrTx,
  symbol: string,
  levels: number,
): Promise<{ bids: Level[]; asks: Level[] }> {
  const rows = await db.execute<{ side: Side; price: bigint; quantity: bigint; orders: number }>(sql`
    (SELECT side, price, sum(quantity - filled_quantity)::bigint AS quantity, count(*)::int AS orders
       FROM orders WHERE symbol = ${symbol} AND side = 'buy' AND status IN ('working', 'partially_filled')
       GROUP BY side, price ORDER BY price DESC LIMIT ${levels})
    UNION ALL
    (SELECT side, price, sum(quantity - filled_quantity)::bigint, count(*)::int
       FROM orders WHERE symbol = ${symbol} AND side = 'sell' AND status IN ('working', 'partially_filled')
       GROUP BY side, price ORDER BY price ASC LIMIT ${levels})`);
  const level = (r: (typeof rows)[number]): Level => ({
    price: BigInt(r.price),
    quantity: BigInt(r.quantity),
    orders: r.orders,
  });
  return {
    bids: rows.filter((r) => r.side === 'buy').map(level),
    asks: rows.filter((r) => r.side === 'sell').map(level),
  };
}

export interface TradePrint {
  id: string;
  price: bigint;
  quantity: bigint;
  executedAt: Date;
}

export async function lastTrades(db: DbOrTx, symbol: string, limit: number): Promise<TradePrint[]> {
  const rows = await db.execute<{
    id: string;
    price: bigint;
    quantity: bigint;
    executed_at: Date | string;
  }>(sql`
    SELECT id, price, quantity, executed_at FROM trades WHERE symbol = ${symbol} ORDER BY executed_at DESC, id DESC LIMIT ${limit}`);
  return rows.map((r) => ({
    id: r.id,
    price: BigInt(r.price),
    quantity: BigInt(r.quantity),
    executedAt: new Date(r.executed_at),
  }));
}
