/**
 * Upper bounds of order inputs, shared by the api schemas (a violation is a 422 before any saga starts)
 * and the saga's activities (an impossible input that got past them anyway is a non-retryable failure,
 * never a retried one). Integers: shares, cents.
 *
 * Every product the system forms stays inside a signed 64-bit integer with room to spare: quantity x
 * price <= 10^9 x 10^8 = 10^17 < 9.2 x 10^18, and notional (and any sum of a few notionals) is capped
 * far lower still.
 */
export const MAX_ORDER_QUANTITY = 1_000_000_000n;
/** $1,000,000.00 per share. */
export const MAX_PRICE_CENTS = 100_000_000n;
/** $10,000,000,000.00 per order. */
export const MAX_NOTIONAL_CENTS = 1_000_000_000_000n;
/** Largest signed 64-bit integer (Postgres bigint). */
export const INT64_MAX = 9_223_372_036_854_775_807n;

/** The notional bound violated by quantity x price, as a message, or undefined. */
export function notionalError(quantity: bigint, price: bigint): string | undefined {
  return quantity * price > MAX_NOTIONAL_CENTS
    ? `quantity x price must be at most ${MAX_NOTIONAL_CENTS / 100n} (USD)`
    : undefined;
}

/** A decimal integer string within [0, max], as a bigint; undefined when it is not one. */
export function boundedInteger(text: string, max: bigint): bigint | undefined {
  if (!/^\d{1,19}$/.test(text)) return undefined;
  const value = BigInt(text);
  return value <= max ? value : undefined;
}
