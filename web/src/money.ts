/**
 * Money on the page: integer cents (bigint), never float arithmetic. The api sends prices and amounts as
 * JSON numbers with at most two decimals (or decimal strings); they are read through their decimal text.
 */

/** Cents of a JSON number or decimal string with at most two decimals; undefined when it is not one. */
export function toCents(value: number | string | null | undefined): bigint | undefined {
  if (value === null || value === undefined) return undefined;
  const text = typeof value === 'number' ? numberText(value) : value.trim();
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(text ?? '');
  if (!m) return undefined;
  const cents = BigInt(m[2]!) * 100n + BigInt((m[3] ?? '').padEnd(2, '0'));
  return m[1] ? -cents : cents;
}

/** The shortest decimal text of a finite number (what JSON printed), not its exponent form. */
function numberText(n: number): string | undefined {
  if (!Number.isFinite(n)) return undefined;
  const text = String(n);
  return /e/i.test(text) ? undefined : text;
}

/** "12,345.60" from cents (grouping for reading; "-" for negatives). */
export function formatCents(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${whole}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** "$12,345.60", or "—" when unknown. */
export function usd(cents: bigint | undefined): string {
  return cents === undefined ? '—' : `$${formatCents(cents)}`;
}

/** A price as the api sent it, with two decimals ("191.50"), or "—". */
export function price(value: number | string | null | undefined): string {
  const cents = toCents(value);
  return cents === undefined ? '—' : formatCents(cents);
}
