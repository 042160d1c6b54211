/**
 * The baselines' steps: they do nothing, so only Temporal's own cost is measured.
 *
 * The same-shape no-op saga is the TradingSaga itself, on the trading worker, with these empty steps in
 * place of validate, reserve, persist and the matching shard's submit. An order whose id starts with
 * `TAKER` fills on arrival (the submit answers `filled`); any other one rests until a fill signal.
 */
import type { MatchingActivities, OrderActivities, OrderSnapshot } from '../../temporal/activities.js';
import type { OrderStatus } from '../../temporal/orders.js';

export const TAKER = 'taker-';

export interface BaselineActivities {
  noop(): Promise<void>;
}

export const baselineActivities: BaselineActivities = {
  async noop() {},
};

export const noopOrderActivities: OrderActivities = {
  async validateOrder(order) {
    return { reserveAsset: 'USD', reserveAmount: order.price ?? '0', reservePrice: order.price ?? '0' };
  },
  async reserveFunds() {},
  async persistOrder() {},
  async releaseReservation() {},
};

const snapshot = (orderId: string, status: OrderStatus, filled: boolean): OrderSnapshot => ({
  orderId,
  status,
  lockVersion: 0,
  filledQuantity: filled ? '1' : '0',
  reservedAmount: '0',
  quantity: '1',
  fillIds: filled ? [`fill-${orderId}`] : [],
});

export const noopMatchingActivities: MatchingActivities = {
  async submitOrder({ orderId }) {
    return orderId.startsWith(TAKER)
      ? snapshot(orderId, 'filled', true)
      : snapshot(orderId, 'working', false);
  },
  async cancelOrder({ orderId }) {
    return snapshot(orderId, 'cancelled', false);
  },
  async replaceOrder({ orderId }) {
    return snapshot(orderId, 'working', false);
  },
};
