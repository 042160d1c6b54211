/** Redis channel and key names shared by the outbox relay (writer) and the api (reader). */

/** Pub/sub: execution reports of one account. */
export const accountChannel = (prefix: string, accountId: string) => `${prefix}feed:account:${accountId}`;
/** Pub/sub: market data changes of one symbol. */
export const marketChannel = (prefix: string, symbol: string) => `${prefix}feed:market:${symbol}`;
/** REST cache of a symbol's quote/depth and trades; deleted by the relay on every book change. */
export const marketCacheKeys = (prefix: string, symbol: string): [string, string] => [
  `${prefix}cache:market:${symbol}`,
  `${prefix}cache:trades:${symbol}`,
];
