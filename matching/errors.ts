/**
 * The numbered reject table. A reject means the request was not applied at all: the book is unchanged.
 * Business outcomes of a valid order (nothing to trade against, FOK not fillable, self-trade
 * prevention) are not rejects: they come back as cancellations in an accepted result.
 */
export const Reject = {
  InvalidQty: 1,
  InvalidPrice: 2,
  DuplicateId: 3,
  UnknownOrder: 4,
  InvalidSide: 5,
  InvalidType: 6,
  InvalidTif: 7,
  InvalidStp: 8,
  InvalidId: 9,
  InvalidAccount: 10,
  InvalidSeq: 11,
  InvalidTs: 12,
  InvalidStopPrice: 13,
} as const;

export type RejectName = keyof typeof Reject;
export type RejectCode = (typeof Reject)[RejectName];

export const REJECT_REASONS: Readonly<Record<RejectCode, string>> = {
  1: 'Quantity must be a positive safe integer',
  2: 'Price must be a positive safe integer',
  3: 'An order with this id is already on the book',
  4: 'No order with this id is on the book',
  5: "Side must be 'buy' or 'sell'",
  6: "Type must be 'limit' or 'market'",
  7: "Time in force must be 'GTC', 'DAY', 'IOC' or 'FOK'",
  8: "Self-trade prevention must be 'cancel_newest', 'cancel_oldest', 'cancel_both' or 'none'",
  9: 'Order id must be a non-empty string',
  10: 'Account id must be a non-empty string',
  11: 'Sequence must be a non-negative safe integer',
  12: 'Timestamp must be a safe integer',
  13: 'Stop price must be a positive safe integer (and only a pending stop order has one)',
};
