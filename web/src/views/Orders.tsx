/**
 * Open orders (replace, cancel), the order history, and one order's details: its executions and a
 * link to its saga in the Temporal Web UI. Row actions are the list ORDER_ACTIONS renders: cancel-all
 * and the order timeline join as a panel action and a details section.
 */
import { Fragment, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Execution, Order } from '../api.js';
import { useSubmission } from '../forms.js';
import { price } from '../money.js';
import type { Trading } from '../store.js';
import { Facts, Field, FormMessage, Panel, Table } from '../ui.js';

const STATUS_LABELS: Record<string, string> = {
  pending: 'Pending',
  pending_trigger: 'Waiting for trigger',
  working: 'Working',
  partially_filled: 'Partially filled',
  filled: 'Filled',
  cancelled: 'Cancelled',
  expired: 'Expired',
  rejected: 'Rejected',
};
const statusLabel = (s: string) => STATUS_LABELS[s] ?? s;
const describe = (o: Order) => `${o.direction} ${o.quantity} ${o.symbol}`;

export function OrdersPanel({ store }: { store: Trading }) {
  const [replacing, setReplacing] = useState<string | undefined>();
  const [details, setDetails] = useState<Order | undefined>();
  const cancel = useSubmission();

  return (
    <>
      <Panel title="Open orders" id="open-orders">
        <FormMessage error>{cancel.general()}</FormMessage>
        <OrderTable
          caption="Open orders"
          orders={store.openOrders}
          empty="No open orders."
          actions={(o) => (
            <>
              <button
                type="button"
                aria-label={`Replace ${describe(o)}`}
                onClick={() => setReplacing(replacing === o.id ? undefined : o.id)}
              >
                Replace
              </button>
              <button
                type="button"
                class="danger"
                aria-label={`Cancel ${describe(o)}`}
                disabled={cancel.busy}
                onClick={() =>
                  void cancel.run(async () => {
                    await store.api.post(`/api/v1/orders/${o.id}/cancel`, { client_version: o.lock_version });
                    await store.reload();
                  })
                }
              >
                Cancel
              </button>
              <button type="button" aria-label={`Details of ${describe(o)}`} onClick={() => setDetails(o)}>
                Details
              </button>
            </>
          )}
          below={(o) =>
            replacing === o.id && (
              <ReplaceForm store={store} order={o} onDone={() => setReplacing(undefined)} />
            )
          }
        />
      </Panel>
      <Panel title="Order history" id="history">
        <OrderTable
          caption="Order history (latest 50)"
          orders={store.history}
          empty="No orders yet."
          actions={(o) => (
            <button type="button" aria-label={`Details of ${describe(o)}`} onClick={() => setDetails(o)}>
              Details
            </button>
          )}
        />
      </Panel>
      {details && <OrderDetails store={store} order={details} onClose={() => setDetails(undefined)} />}
    </>
  );
}

const ORDER_COLUMNS = [
  { label: 'Symbol' },
  { label: 'Side' },
  { label: 'Type' },
  { label: 'Qty', num: true },
  { label: 'Filled', num: true },
  { label: 'Price', num: true },
  { label: 'TIF' },
  { label: 'Status' },
  { label: 'Actions', hidden: true },
];

function OrderTable(p: {
  caption: string;
  orders: Order[];
  empty: string;
  actions: (o: Order) => ComponentChildren;
  below?: (o: Order) => ComponentChildren;
}) {
  return (
    <Table
      caption={p.caption}
      hideCaption
      class="orders"
      columns={ORDER_COLUMNS}
      items={p.orders}
      empty={p.empty}
      row={(o) => (
        <Fragment key={o.id}>
          <tr data-order={o.id} data-status={o.status}>
            <th scope="row">{o.symbol}</th>
            <td class={o.direction}>{o.direction}</td>
            <td>{o.order_type}</td>
            <td class="num">{o.quantity}</td>
            <td class="num">{o.filled_quantity}</td>
            <td class="num" data-testid="order-price">
              {o.price === null ? 'market' : price(o.price)}
            </td>
            <td>{o.time_in_force}</td>
            <td>{statusLabel(o.status)}</td>
            <td class="row-actions">{p.actions(o)}</td>
          </tr>
          {p.below?.(o) && (
            <tr>
              <td colSpan={ORDER_COLUMNS.length}>{p.below(o)}</td>
            </tr>
          )}
        </Fragment>
      )}
    />
  );
}

function ReplaceForm({ store, order, onDone }: { store: Trading; order: Order; onDone: () => void }) {
  const [quantity, setQuantity] = useState(String(order.quantity));
  const [newPrice, setNewPrice] = useState(order.price === null ? '' : price(order.price).replace(/,/g, ''));
  const submit = useSubmission();
  return (
    <form
      aria-label={`Replace ${describe(order)}`}
      class="inline"
      onSubmit={(e) => {
        e.preventDefault();
        void submit.run(async () => {
          const body: Record<string, unknown> = { client_version: order.lock_version, quantity };
          if (order.price !== null) body.price = newPrice;
          await store.api.post(`/api/v1/orders/${order.id}/replace`, { order: body });
          await store.reload();
          onDone();
        });
      }}
    >
      <Field
        label="New quantity"
        name="quantity"
        inputMode="numeric"
        value={quantity}
        onInput={setQuantity}
        errors={submit.errors('quantity')}
      />
      {order.price !== null && (
        <Field
          label="New limit price (USD)"
          name="price"
          inputMode="decimal"
          value={newPrice}
          onInput={setNewPrice}
          errors={submit.errors('price')}
        />
      )}
      <button type="submit" disabled={submit.busy}>
        Send replace
      </button>
      <FormMessage error>{submit.general()}</FormMessage>
    </form>
  );
}

function OrderDetails({ store, order, onClose }: { store: Trading; order: Order; onClose: () => void }) {
  const [executions, setExecutions] = useState<Execution[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  // Reload with the store: a fill that arrives while the details are open shows up.
  const current = [...store.openOrders, ...store.history].find((o) => o.id === order.id) ?? order;
  useEffect(() => {
    store.api.get<{ executions: Execution[] }>(`/api/v1/orders/${order.id}/executions`).then(
      (r) => setExecutions(r.executions),
      (err: Error) => setError(err.message),
    );
  }, [store, order.id, current.filled_quantity]);
  return (
    <Panel
      title={`Order ${describe(current)}`}
      id="order-details"
      actions={
        <button type="button" onClick={onClose}>
          Close details
        </button>
      }
    >
      <Facts
        class="facts"
        items={[
          { label: 'Status', value: statusLabel(current.status) },
          { label: 'Average price', value: price(current.average_price) },
          { label: 'Client order id', value: <code>{current.client_order_id}</code> },
          {
            label: 'Saga',
            value: (
              <a href={store.sagaUrl(current)} target="_blank" rel="noopener noreferrer">
                Open the order's saga in the Temporal Web UI
              </a>
            ),
          },
        ]}
      />
      <FormMessage error>{error}</FormMessage>
      <Table
        caption="Executions"
        columns={[
          { label: 'Time' },
          { label: 'Shares', num: true },
          { label: 'Price', num: true },
          { label: 'Liquidity' },
        ]}
        items={executions ?? []}
        empty={executions ? 'No executions.' : 'Loading…'}
        testId="order-executions"
        row={(e) => (
          <tr key={e.execution_id}>
            <td>{new Date(e.executed_at).toLocaleString()}</td>
            <td class="num">{e.quantity}</td>
            <td class="num">{price(e.price)}</td>
            <td>{e.liquidity}</td>
          </tr>
        )}
      />
    </Panel>
  );
}
