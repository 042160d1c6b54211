/**
 * Exact decimal <-> integer conversion. Money is integer minor units (cents), prices integer ticks,
 * quantities integer shares; nothing here goes through floating-point arithmetic.
 *
 * A JSON number such as `100.5` has already been parsed by JSON.parse into a double; its shortest
 * round-trip text (`String(100.5)` = "100.5") is exactly what the client wrote for any value with at
 * most 15 significant digits, so we parse that text, never the double's binary value. The api refuses
 * a JSON number with more before it is parsed here (api/input-guard.ts).
 */

export type ParseResult = { ok: true; value: bigint } | { ok: false; error: string };

const DECIMAL = /^(-)?(\d{1,18})(?:\.(\d+))?$/;

/** Parse `input` into an integer count of 10^-scale units; rejects more than `scale` decimals. */
export function parseDecimal(input: unknown, scale: number): ParseResult {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, error: 'must be a finite number' };
    text = String(input);
    if (/e/i.test(text)) return { ok: false, error: 'is out of range' };
  } else if (typeof input === 'string') {
    text = input.trim();
  } else {
    return { ok: false, error: 'must be a number or a decimal string' };
  }
  const m = DECIMAL.exec(text);
  if (!m) return { ok: false, error: 'must be a decimal number' };
  const [, sign, whole, frac = ''] = m;
  if (frac.length > scale) return { ok: false, error: `must have at most ${scale} decimals` };
  const units = BigInt(whole! + frac.padEnd(scale, '0'));
  return { ok: true, value: sign ? -units : units };
}

/** Format integer units as a decimal string with exactly `scale` decimals: 12345n, 2 -> "123.45". */
export function formatDecimal(units: bigint, scale: number): string {
  const neg = units < 0n;
  const abs = (neg ? -units : units).toString().padStart(scale + 1, '0');
  const out = scale === 0 ? abs : `${abs.slice(0, -scale)}.${abs.slice(-scale)}`;
  return neg ? `-${out}` : out;
}

/**
 * A JSON number for clients that compare amounts as numbers (the api's numeric amount fields). Safe: the decimal text has at
 * most two decimals and the value is far below 2^53 cents, so the double is the nearest to the text.
 */
export function toJsonNumber(units: bigint, scale: number): number {
  return Number(formatDecimal(units, scale));
}

/**
 * A whole count that Postgres keeps as a bigint (shares, cents, ticks) as a JS number: exact, or a
 * RangeError instead of a rounded value.
 */
export function exactNumber(units: bigint): number {
  if (units > BigInt(Number.MAX_SAFE_INTEGER) || units < -BigInt(Number.MAX_SAFE_INTEGER))
    throw new RangeError(`${units} is beyond the exact range of a JSON number`);
  return Number(units);
}

/** A whole count carried as a decimal string (outbox payloads: shares) as an exact JS number. */
export const exactCount = (digits: string): number => exactNumber(BigInt(digits));

/** Cents per dollar: every cash amount in BrokerX is USD with two decimals. */
export const CASH_SCALE = 2;
