/**
 * Operator controls on the order path (docs/adr/0022-risk-controls-through-temporal.md), one check used
 * twice: by validation (trading worker, early and without locks, for a quick answer) and by the shard
 * when it accepts an order or a replace (holding the control locks shared, so that a halt, freeze, kill
 * switch or limit that has answered is in force for every order accepted after it).
 */
import type { DbOrTx } from '../db/client.js';
import { orderFacts, orderHoldingControlLocks, type OrderFacts } from '../db/queries/controls.js';
import type { OrderRow } from '../db/queries/orders.js';
import {
  FailureType,
  businessFailure,
  type FailureDetails,
  type RiskLimitName,
} from '../temporal/failures.js';
import type { Side } from '../temporal/orders.js';

export interface ControlledOrder {
  /** Absent before the order is persisted (validation); excluded from the account's usage otherwise. */
  orderId?: string;
  accountId: string;
  symbol: string;
  side: Side;
  quantity: bigint;
  /** Cents per share the order may trade at: its limit, or the market-buy collar. */
  price: bigint;
}

export type ControlViolation =
  | {
      type:
        | typeof FailureType.SymbolHalted
        | typeof FailureType.AccountFrozen
        | typeof FailureType.KillSwitchEngaged;
      message: string;
    }
  | { type: typeof FailureType.RiskLimit; message: string; details: FailureDetails<'RiskLimit'> };

/** The start of the UTC day: daily traded notional counts trades since then. */
const startOfDay = (now: Date) =>
  new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));

/**
 * Whose facts: an order of `accountId` in `symbol` being validated, left out of the usage by its id (a
 * replayed first workflow task validates again after its reserve stored the order; the facts then carry
 * the reservation recorded with it, `recorded`).
 */
type FactsOf = Pick<ControlledOrder, 'accountId' | 'symbol'> & { orderId: string };

/**
 * The facts an order's checks read, in one statement (db/queries/controls.ts `orderFacts`), early and
 * without locks, for a quick answer (validation; the shard reads them again with `lockedOrderAndFacts`).
 */
export const factsFor = (db: DbOrTx, o: FactsOf, now: Date): Promise<OrderFacts> =>
  orderFacts(db, { symbol: o.symbol, accountId: o.accountId, exclude: o.orderId, since: startOfDay(now) });

/**
 * The shard accepting an order or a replace: the order with its control locks held shared
 * (`orderHoldingControlLocks`), and its facts (`orderFacts`, the order left out of its usage). The two
 * statements are sent together, so postgres.js pipelines them on the transaction's connection: one round
 * trip. Postgres still runs them one after the other, and the facts read takes its own snapshot when it
 * starts (READ COMMITTED), after the locks were granted: it sees every control change that committed
 * before, as a statement sent after the first one's answer would.
 */
export async function lockedOrderAndFacts(
  tx: DbOrTx,
  orderId: string,
  now: Date,
): Promise<{ order: OrderRow; facts: OrderFacts } | undefined> {
  const [order, facts] = await Promise.all([
    orderHoldingControlLocks(tx, orderId),
    orderFacts(tx, { orderId, since: startOfDay(now) }),
  ]);
  return order && { order, facts };
}

/** The violation of a control by this order under these facts, or null. Pure. */
export function violationOf(f: OrderFacts, o: ControlledOrder): ControlViolation | null {
  const c = f.controls;
  if (c.killSwitch)
    return {
      type: FailureType.KillSwitchEngaged,
      message:
        c.killSwitch === '*'
          ? 'The kill switch stops all trading'
          : `The kill switch stops trading in ${o.symbol}`,
    };
  if (c.instrumentStatus === 'halted')
    return { type: FailureType.SymbolHalted, message: `Trading in ${o.symbol} is halted` };
  if (c.accountStatus === 'frozen') return { type: FailureType.AccountFrozen, message: 'Account is frozen' };
  const l = c.limits;
  if (!l) return null;
  const notional = o.quantity * o.price;
  const over = (limit: RiskLimitName, value: bigint, max: bigint, unit: string) => ({
    type: FailureType.RiskLimit,
    message: `${limit}: ${value} ${unit} would exceed the account's limit of ${max} ${unit}`,
    details: { limit },
  });
  if (l.maxOrderNotional !== null && notional > l.maxOrderNotional)
    return over('max_order_notional', notional, l.maxOrderNotional, 'cents');
  const u = f.usage;
  if (!u) return null; // no limit that needs the usage
  if (l.maxOpenOrders !== null && u.openOrders + 1 > l.maxOpenOrders)
    return over('max_open_orders', BigInt(u.openOrders + 1), BigInt(l.maxOpenOrders), 'open orders');
  if (l.maxPosition !== null && o.side === 'buy' && u.position + u.openBuys + o.quantity > l.maxPosition)
    return over('max_position', u.position + u.openBuys + o.quantity, l.maxPosition, 'shares');
  if (l.maxDailyNotional !== null && u.dailyNotional + notional > l.maxDailyNotional)
    return over('max_daily_notional', u.dailyNotional + notional, l.maxDailyNotional, 'cents');
  return null;
}

/** The business failure to throw for a violation. */
export const controlFailure = (v: ControlViolation) =>
  businessFailure(v.type, v.message, 'details' in v ? v.details : undefined);
