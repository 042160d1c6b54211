/** The order row as the ACK carries it: the api answers from it exactly as from the stored row. */
import { describe, expect, it } from 'vitest';
import { orderJson } from '../../api/routes/orders.js';
import { ackOf, withCommittedOrder, type SagaState } from '../../temporal/contracts.js';
import { committedOrder, orderView, type OrderRow } from './orders.js';

const row: OrderRow = {
  id: '7d1d8f0e-7c55-4b5e-9d0c-3a8a1c2b4f10',
  accountId: '0a4f4c4e-1d1b-4c9e-8f5f-2b7f3f6b9e21',
  clientOrderId: 'c-1',
  symbol: 'AAPL',
  side: 'buy',
  orderType: 'stop_limit',
  timeInForce: 'GTC',
  expiresAt: null,
  selfTradePrevention: 'cancel_newest',
  quantity: 10n,
  price: 16_500n,
  stopPrice: 16_400n,
  triggeredAt: new Date('2026-12-02T01:00:00.123Z'),
  filledQuantity: 4n,
  filledNotional: 65_996n,
  status: 'partially_filled',
  reservePrice: 16_500n,
  reservedAmount: 99_000n,
  lockVersion: 2,
  bookSeq: 17n,
  rejectReason: null,
  lastRequestId: null,
  requestFingerprint: 'f',
  workflowId: 'order-x',
  createdAt: new Date('2026-12-02T00:59:59.001Z'),
  updatedAt: new Date('2026-12-02T01:00:00.123Z'),
};

const state = (over: Partial<SagaState> = {}): SagaState => ({
  orderId: row.id,
  status: 'partially_filled',
  phase: 'live',
  lockVersion: 2,
  quantity: '10',
  price: '16500',
  filledQuantity: '4',
  reservedAmount: '99000',
  fillIds: [],
  compensations: [],
  ...over,
});

describe('the committed order row in an ACK', () => {
  it('answers exactly as the stored row does', () => {
    const carried = JSON.parse(JSON.stringify(committedOrder(row))) as ReturnType<typeof committedOrder>;
    expect(orderJson(orderView(carried))).toEqual(orderJson(row));
  });

  it('travels only while the saga state is that row', () => {
    const order = committedOrder(row);
    expect(withCommittedOrder(ackOf(state(), 'c-1'), order).order).toEqual(order);
    // A fill signal since the step: the state is ahead of the row, so the api reads the order.
    const ahead = ackOf(state({ filledQuantity: '6', reservedAmount: '66000' }), 'c-1');
    expect(withCommittedOrder(ahead, order).order).toBeUndefined();
    expect(withCommittedOrder(ackOf(state(), 'c-1'), undefined).order).toBeUndefined();
  });
});
