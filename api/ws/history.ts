/**
 * What the feed reads from Postgres, the source of truth behind Redis pub/sub: an account's outbox
 * events after a seq (resume, gap fill), the accounts' committed last seq (sweep for lost messages),
 * listed symbols, and a book snapshot for the first quote/depth frame of a new subscriber.
 */
import type { Database } from '../../db/client.js';
import { bookDepth } from '../../db/queries/market.js';
import { exactNumber } from '../../lib/money.js';
import { publishedEvent, type StoredEvent } from '../../temporal/events.js';
import { toAccountEvent, type AccountEvent, type MarketUpdate } from './frames.js';

export interface FeedHistory {
  /** Events of the account with seq > `after`, in seq order, at most `limit`. */
  eventsAfter(accountId: string, after: number, limit: number): Promise<AccountEvent[]>;
  /** The account's last committed seq (0 when it has none). */
  lastSeq(accountId: string): Promise<number>;
  /** Last committed seq of each account that has one. */
  lastSeqs(accountIds: string[]): Promise<Map<string, number>>;
  /** True when the symbol is a listed instrument. */
  isListed(symbol: string): Promise<boolean>;
  /** Quote and depth (10 levels) from the orders table, shaped like a `market.update`. */
  bookSnapshot(symbol: string, now: Date): Promise<MarketUpdate>;
}

const SYMBOLS_TTL_MS = 60_000;

export function postgresHistory(database: Pick<Database, 'db' | 'sql'>): FeedHistory {
  const { db, sql } = database;
  let symbols: { at: number; set: Set<string> } | undefined;
  let loading: Promise<Set<string>> | undefined;

  async function listed(): Promise<Set<string>> {
    if (symbols && performance.now() - symbols.at < SYMBOLS_TTL_MS) return symbols.set;
    loading ??= (async () => {
      try {
        const rows = await sql<{ symbol: string }[]>`SELECT symbol FROM instruments`;
        const set = new Set(rows.map((r) => r.symbol));
        symbols = { at: performance.now(), set };
        return set;
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  }

  return {
    async eventsAfter(accountId, after, limit) {
      const rows = await sql<(StoredEvent & { id: string; account_seq: bigint })[]>`
        SELECT id, account_seq, event_type, payload FROM outbox
        WHERE account_id = ${accountId}::uuid AND account_seq > ${after}
        ORDER BY account_seq
        LIMIT ${limit}`;
      const out: AccountEvent[] = [];
      for (const r of rows) {
        // The same object the relay publishes: payload, event id (payload's or the row id), type, seq.
        const e = toAccountEvent({ ...publishedEvent(r), seq: Number(r.account_seq) });
        if (e) out.push(e);
      }
      return out;
    },
    async lastSeq(accountId) {
      const [row] = await sql<
        { last_seq: bigint }[]
      >`SELECT last_seq FROM account_sequences WHERE account_id = ${accountId}::uuid`;
      return row ? Number(row.last_seq) : 0;
    },
    async lastSeqs(accountIds) {
      if (accountIds.length === 0) return new Map();
      const rows = await sql<{ account_id: string; last_seq: bigint }[]>`
        SELECT account_id::text, last_seq FROM account_sequences WHERE account_id = ANY(${accountIds}::uuid[])`;
      return new Map(rows.map((r) => [r.account_id, Number(r.last_seq)]));
    },
    async isListed(symbol) {
      if ((await listed()).has(symbol)) return true;
      // Listed since the cache was filled? One forced reload, then trust the answer until the TTL.
      if (symbols && performance.now() - symbols.at < 1000) return false;
      symbols = undefined;
      return (await listed()).has(symbol);
    },
    async bookSnapshot(symbol, now) {
      const d = await bookDepth(db, symbol, 10);
      const lvl = (l: { price: bigint; quantity: bigint; orders: number }) => ({
        price: exactNumber(l.price),
        qty: exactNumber(l.quantity),
        orders: l.orders,
      });
      const bids = d.bids.map(lvl);
      const asks = d.asks.map(lvl);
      const top = (l: { price: number; qty: number } | undefined) =>
        l ? { price: l.price, qty: l.qty } : null;
      return {
        symbol,
        eventId: '',
        ts: now.toISOString(),
        tsMs: now.getTime(),
        quote: { bid: top(bids[0]), ask: top(asks[0]) },
        depth: { bids, asks },
        trades: [],
      };
    },
  };
}
