/** Custom search attributes on every TradingSaga, registered by the dev server and in compose. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SEARCH_ATTRIBUTES = {
  OrderId: 'Keyword',
  AccountId: 'Keyword',
  Symbol: 'Keyword',
  OrderStatus: 'Keyword',
} as const;

export const OrderIdKey = defineSearchAttributeKey('OrderId', SearchAttributeType.KEYWORD);
export const AccountIdKey = defineSearchAttributeKey('AccountId', SearchAttributeType.KEYWORD);
export const SymbolKey = defineSearchAttributeKey('Symbol', SearchAttributeType.KEYWORD);
export const OrderStatusKey = defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD);
