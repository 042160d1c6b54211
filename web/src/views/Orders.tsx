/**
 * Open orders (replace, cancel, and cancel-all after a confirmation), the order history, and one
 * order's details: its executions, its timeline and a link to its saga in the Temporal Web UI. Stops
 * show their trigger price; until it is met their status is "Waiting for trigger". A replace or a cancel
 * pressed again after its answer was lost is the same request (`RetryKey`): the api makes it once.
 */
import { Fragment, type ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { RetryKey, type CancelAllResult, type Execution, type Order, type TimelineEvent } from '../api.js';
import { useSubmission } from '../forms.js';
import { price, toCents, usd } from '../money.js';
import { statusLabel, type Trading } from '../store.js';
import { Facts, Field, FormMessage, Panel, Select, Table } from '../ui.js';
import { typeLabel } from './Ticket.js';

const describe = (o: Order) => `${o.direction} ${o.quantity} ${o.symbol}`;
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

export function OrdersPanel({ store }: { store: Trading }) {
  const [replacing, setReplacing] = useState<string | undefined>();
  const [details, setDetails] = useState<Order | undefined>();
  // The button that opened the details gets the focus back when they close.
  const opener = useRef<HTMLElement | null>(null);
  const cancel = useSubmission();
  // One cancel per order: pressed again after a lost answer, the same key and version.
  const [cancelKeys] = useState(() => new Map<string, RetryKey>());
  const cancelKey = (id: string) => cancelKeys.get(id) ?? cancelKeys.set(id, new RetryKey()).get(id)!;
  const showDetails = (o: Order) => {
    opener.current = document.activeElement as HTMLElement | null;
    setDetails(o);
  };
  const detailsButton = (o: Order) => (
    <button type="button" aria-label={`Details of ${describe(o)}`} onClick={() => showDetails(o)}>
      Details
    </button>
  );

  return (
    <>
      <Panel title="Open orders" id="open-orders">
        <CancelAll store={store} />
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
                aria-expanded={replacing === o.id}
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
                    const key = cancelKey(o.id);
                    const body = key.keep(() => ({ client_version: o.lock_version }));
                    await key.send((k) =>
                      store.api.post(`/api/v1/orders/${o.id}/cancel`, body, {
                        headers: { 'idempotency-key': k },
                      }),
                    );
                    await store.reload();
                  })
                }
              >
                Cancel
              </button>
              {detailsButton(o)}
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
          actions={detailsButton}
        />
      </Panel>
      {details && (
        <OrderDetails
          key={details.id}
          store={store}
          order={details}
          onClose={() => {
            setDetails(undefined);
            if (opener.current?.isConnected) opener.current.focus();
          }}
        />
      )}
    </>
  );
}

/**
 * Cancel every open order (DELETE /api/v1/orders), or those of one symbol: a button, then a question
 * with the count that the trader confirms or declines (Escape declines), then how many were cancelled.
 */
function CancelAll({ store }: { store: Trading }) {
  const [asking, setAsking] = useState(false);
  const [symbol, setSymbol] = useState('');
  const [result, setResult] = useState<string | undefined>();
  const submit = useSubmission();
  const button = useRef<HTMLButtonElement>(null);
  const form = useRef<HTMLFormElement>(null);
  const note = useRef<HTMLParagraphElement>(null);
  const open = store.openOrders;
  const symbols = [...new Set(open.map((o) => o.symbol))].sort();
  const count = (s: string) => open.filter((o) => !s || o.symbol === s).length;
  const n = count(symbol);

  // Asking: the focus goes to the question's first control; declined: back to the button.
  const declined = useRef(false);
  useEffect(() => {
    if (asking) form.current?.querySelector<HTMLElement>('select, button')?.focus();
    else if (declined.current) button.current?.focus();
    declined.current = false;
  }, [asking]);
  useEffect(() => {
    if (result) note.current?.focus();
  }, [result]);

  const decline = () => {
    declined.current = true;
    setAsking(false);
    submit.clear();
  };

  if (!asking)
    return (
      <div class="toolbar">
        <button
          type="button"
          class="danger"
          ref={button}
          disabled={open.length === 0}
          onClick={() => {
            setSymbol('');
            setResult(undefined);
            setAsking(true);
          }}
        >
          Cancel all…
        </button>
        {result && (
          <p class="form-note" role="status" tabIndex={-1} ref={note} data-testid="cancel-all-result">
            {result}
          </p>
        )}
      </div>
    );

  return (
    <form
      aria-label="Cancel all open orders"
      class="confirm"
      ref={form}
      onKeyDown={(e) => {
        if (e.key === 'Escape') decline();
      }}
      onSubmit={(e) => {
        e.preventDefault();
        void submit.run(async () => {
          const query = symbol ? `?symbol=${encodeURIComponent(symbol)}` : '';
          const r = await store.api.delete<CancelAllResult>(`/api/v1/orders${query}`);
          setAsking(false);
          setResult(cancelAllOutcome(r));
          await store.reload();
        });
      }}
    >
      {symbols.length > 1 && (
        <Select
          label="Which orders"
          name="symbol"
          value={symbol}
          options={[
            { value: '', label: `All symbols (${count('')})` },
            ...symbols.map((s) => ({ value: s, label: `${s} only (${count(s)})` })),
          ]}
          onChange={setSymbol}
          errors={submit.errors('symbol')}
        />
      )}
      <p class="question">
        Cancel {plural(n, 'open order')}
        {symbol && ` of ${symbol}`}? Anything already filled stays filled.
      </p>
      <div class="actions">
        <button type="submit" class="danger" disabled={submit.busy}>
          Yes, cancel {plural(n, 'order')}
        </button>
        <button type="button" onClick={decline}>
          No, keep them
        </button>
      </div>
      <FormMessage error>{submit.general()}</FormMessage>
    </form>
  );
}

function cancelAllOutcome(r: CancelAllResult): string {
  if (r.cancelled.length === 0 && r.failed.length === 0) return 'Nothing was open to cancel.';
  const done = `Cancelled ${plural(r.cancelled.length, 'order')}.`;
  if (r.failed.length === 0) return done;
  const why = [...new Set(r.failed.map((f) => f.message))].join('; ');
  return `${done} ${r.failed.length} could not be cancelled: ${why}.`;
}

const ORDER_COLUMNS = [
  { label: 'Symbol' },
  { label: 'Side' },
  { label: 'Type' },
  { label: 'Qty', num: true },
  { label: 'Filled', num: true },
  { label: 'Price', num: true },
  { label: 'Stop', num: true },
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
            <td>{typeLabel(o.order_type)}</td>
            <td class="num">{o.quantity}</td>
            <td class="num">{o.filled_quantity}</td>
            <td class="num" data-testid="order-price">
              {o.price === null ? 'market' : price(o.price)}
            </td>
            <td class="num" data-testid="order-stop">
              {price(o.stop_price)}
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

/** Without a dollar sign and grouping, as typed ("1234.50"). */
const typed = (v: number | null) => (v === null ? '' : price(v).replace(/,/g, ''));

type ReplaceField = 'quantity' | 'stop_price' | 'price';
const REPLACE_LABELS: Record<ReplaceField, string> = {
  quantity: 'New quantity',
  stop_price: 'New stop price (USD)',
  price: 'New limit price (USD)',
};

function ReplaceForm({ store, order, onDone }: { store: Trading; order: Order; onDone: () => void }) {
  const [values, setValues] = useState<Record<ReplaceField, string>>({
    quantity: String(order.quantity),
    stop_price: typed(order.stop_price),
    price: typed(order.price),
  });
  // A stop's trigger price can change until it triggers; a market order (or stop) has no limit price.
  const fields: ReplaceField[] = [
    'quantity',
    ...(order.status === 'pending_trigger' ? (['stop_price'] as const) : []),
    ...(order.price === null ? [] : (['price'] as const)),
  ];
  // Pressed again after a lost answer, the same replace (of the version it was first sent for).
  const [key] = useState(() => new RetryKey());
  const submit = useSubmission();
  return (
    <form
      aria-label={`Replace ${describe(order)}`}
      class="inline"
      onSubmit={(e) => {
        e.preventDefault();
        void submit.run(async () => {
          const body = key.keep(() => {
            const b: Record<string, unknown> = { client_version: order.lock_version };
            for (const f of fields) b[f] = values[f];
            return { order: b };
          });
          await key.send((k) =>
            store.api.post(`/api/v1/orders/${order.id}/replace`, body, { headers: { 'idempotency-key': k } }),
          );
          await store.reload();
          onDone();
        });
      }}
    >
      {fields.map((f) => (
        <Field
          key={f}
          label={REPLACE_LABELS[f]}
          name={f}
          inputMode={f === 'quantity' ? 'numeric' : 'decimal'}
          value={values[f]}
          onInput={(v) => {
            key.renew();
            setValues({ ...values, [f]: v });
          }}
          errors={submit.errors(f)}
        />
      ))}
      <button type="submit" disabled={submit.busy}>
        Send replace
      </button>
      <FormMessage error>{submit.general()}</FormMessage>
    </form>
  );
}

/** A step's limit price (" at 185.00") and a stop's stop price (", stop price 184.00"), when it has them. */
const atPrice = (e: TimelineEvent) => ((e.price ?? null) === null ? '' : ` at ${price(e.price)}`);
const stopPrice = (e: TimelineEvent) =>
  (e.stop_price ?? null) === null ? '' : `, stop price ${price(e.stop_price)}`;

/** Each timeline step as the trader reads it: its name and what it says (facts from the api). */
const STEPS: Record<
  string,
  { label: string | ((e: TimelineEvent) => string); detail?: (e: TimelineEvent) => string }
> = {
  received: {
    label: 'Received',
    detail: (e) =>
      `${String(e.direction)} ${String(e.quantity)} ${String(e.symbol)}, ${typeLabel(String(e.order_type))}` +
      `${atPrice(e)}${stopPrice(e)}, ${String(e.time_in_force)}`,
  },
  validated: { label: 'Validated' },
  funds_reserved: {
    label: 'Reserved',
    detail: (e) =>
      e.asset === 'USD' ? usd(toCents(e.amount ?? null)) : `${String(e.amount)} ${String(e.asset)} shares`,
  },
  submitted: { label: 'Sent to the matching engine' },
  accepted: { label: 'Accepted by the matching engine' },
  triggered: { label: 'Stop triggered', detail: (e) => `stop price ${price(e.stop_price)} reached` },
  fill: {
    label: (e) => (e.status === 'filled' ? 'Filled' : 'Partly filled'),
    detail: (e) => `${String(e.quantity)} @ ${price(e.price)}, ${String(e.filled_quantity)} filled in all`,
  },
  replaced: {
    label: 'Replaced',
    detail: (e) => `now ${String(e.quantity)} shares${atPrice(e)}${stopPrice(e)}`,
  },
  cancel_requested: { label: 'Cancel requested' },
  cancelled: { label: 'Cancelled', detail: (e) => `${String(e.filled_quantity)} filled before` },
  expired: { label: 'Expired', detail: (e) => `${String(e.filled_quantity)} filled before` },
  rejected: { label: 'Rejected', detail: (e) => String(e.reason ?? '') },
  compensated: { label: 'Reservation released', detail: (e) => String(e.reason ?? '') },
};

const clock = (iso: string) =>
  new Date(iso).toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    fractionalSecondDigits: 3,
  });

function OrderDetails({ store, order, onClose }: { store: Trading; order: Order; onClose: () => void }) {
  const [executions, setExecutions] = useState<Execution[] | undefined>();
  const [timeline, setTimeline] = useState<TimelineEvent[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  // Read again when the order changes (the store reloads on feed events): a trigger or a fill that
  // happens while the details are open shows up.
  const current = [...store.openOrders, ...store.history].find((o) => o.id === order.id) ?? order;
  const version = `${current.status}/${current.filled_quantity}/${current.updated_at}`;
  useEffect(() => {
    let live = true;
    Promise.all([
      store.api.get<{ executions: Execution[] }>(`/api/v1/orders/${order.id}/executions`),
      store.api.get<{ events: TimelineEvent[] }>(`/api/v1/orders/${order.id}/timeline`),
    ]).then(
      ([x, t]) => {
        if (!live) return;
        setExecutions(x.executions);
        setTimeline(t.events);
        setError(undefined);
      },
      (err: Error) => live && setError(err.message),
    );
    return () => {
      live = false;
    };
  }, [store, order.id, version]);
  return (
    <Panel
      title={`Order ${describe(current)}`}
      id="order-details"
      focusTitle
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
          { label: 'Type', value: typeLabel(current.order_type) },
          ...(current.stop_price === null
            ? []
            : [{ label: 'Stop price', value: price(current.stop_price), testId: 'details-stop' }]),
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
      <div class="details">
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
        <section aria-labelledby="timeline-title">
          <h3 id="timeline-title">Timeline</h3>
          <ol class="timeline" data-testid="order-timeline">
            {!timeline && <li class="muted">Loading…</li>}
            {timeline?.map((e, i) => {
              const step = STEPS[e.type];
              const label = typeof step?.label === 'function' ? step.label(e) : step?.label;
              return (
                <li key={`${i}-${e.type}`} data-step={e.type}>
                  <time dateTime={e.at}>{clock(e.at)}</time>
                  <span class="step">{label ?? e.type}</span>
                  {step?.detail && <span class="muted">{step.detail(e)}</span>}
                </li>
              );
            })}
          </ol>
        </section>
      </div>
    </Panel>
  );
}
