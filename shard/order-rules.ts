/** Instrument rules shared by validation (trading worker) and replace (matching worker). Pure. */
import { CASH_SCALE, formatDecimal } from '../lib/money.js';
import { FailureType, type RuleViolation } from '../temporal/failures.js';

export interface InstrumentRules {
  tickSize: bigint;
  lotSize: bigint;
  referencePrice: bigint;
  priceBandBps: number;
}

export function priceBand(i: InstrumentRules): { low: bigint; high: bigint } {
  const band = (i.referencePrice * BigInt(i.priceBandBps)) / 10_000n;
  return { low: i.referencePrice - band, high: i.referencePrice + band };
}

/**
 * The market-buy collar: a market buy reserves, and may trade up to, the top of the price band. Limit
 * orders can never rest above it, so the reservation always covers the fills.
 */
export const collarPrice = (i: InstrumentRules): bigint => priceBand(i).high;

export function checkQuantity(i: InstrumentRules, qty: bigint): RuleViolation {
  if (qty <= 0n) return { type: FailureType.InvalidOrder, message: 'Quantity must be positive' };
  if (qty % i.lotSize !== 0n)
    return {
      type: FailureType.InvalidLot,
      message: `Quantity must be a multiple of the lot size ${i.lotSize}`,
    };
  return null;
}

/** A limit price, or a stop price (`what`), on the tick grid and inside the price band. */
export function checkLimitPrice(i: InstrumentRules, price: bigint, what = 'Price'): RuleViolation {
  if (price <= 0n) return { type: FailureType.InvalidOrder, message: `${what} must be positive` };
  if (price % i.tickSize !== 0n)
    return { type: FailureType.InvalidTick, message: `${what} is not a multiple of the tick size` };
  const { low, high } = priceBand(i);
  if (price < low || price > high)
    return {
      type: FailureType.PriceOutsideBand,
      message: `${what} must be between ${formatDecimal(low, CASH_SCALE)} and ${formatDecimal(high, CASH_SCALE)} (USD)`,
    };
  return null;
}
