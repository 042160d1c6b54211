/**
 * The order ticket. Which inputs an order type has is the table ORDER_TYPES: a new type is one more row
 * with its fields, and the body is built from the fields it lists (an empty one is left out, so the api
 * says it is required). The api validates; its messages appear under the input they name.
 */
import { useState } from 'preact/hooks';
import { RetryKey, type Order } from '../api.js';
import { useSubmission } from '../forms.js';
import { statusLabel, type Trading } from '../store.js';
import { Field, FormMessage, Panel, Select } from '../ui.js';

type PriceField = 'price' | 'stop_price';

export interface OrderTypeSpec {
  value: string;
  label: string;
  /** The price inputs this type sends, in the order they show. */
  prices: readonly PriceField[];
  timeInForce: readonly string[];
}

export const ORDER_TYPES: readonly OrderTypeSpec[] = [
  { value: 'limit', label: 'Limit', prices: ['price'], timeInForce: ['DAY', 'GTC', 'IOC', 'FOK'] },
  { value: 'market', label: 'Market', prices: [], timeInForce: ['IOC', 'FOK'] },
  // Stops wait for their trigger (pending_trigger), so they are DAY or GTC.
  { value: 'stop', label: 'Stop', prices: ['stop_price'], timeInForce: ['DAY', 'GTC'] },
  { value: 'stop_limit', label: 'Stop limit', prices: ['stop_price', 'price'], timeInForce: ['DAY', 'GTC'] },
];
/** An order type as the ticket names it. */
export const typeLabel = (t: string) => ORDER_TYPES.find((o) => o.value === t)?.label ?? t;

const PRICE_LABELS: Record<PriceField, string> = {
  price: 'Limit price (USD)',
  stop_price: 'Stop price (USD)',
};
/** When a stop triggers (the api's rule), under its input. */
const STOP_HINTS = {
  buy: 'Triggers when a trade prints at or above it',
  sell: 'Triggers when a trade prints at or below it',
};
const TIF_LABELS: Record<string, string> = {
  DAY: 'Day',
  GTC: "Good 'til cancelled",
  IOC: 'Immediate or cancel',
  FOK: 'Fill or kill',
};
const SIDES = [
  { value: 'buy', label: 'Buy' },
  { value: 'sell', label: 'Sell' },
] as const;

export function TicketPanel({ store, symbol }: { store: Trading; symbol: string }) {
  const [form, setForm] = useState({
    symbol,
    direction: 'buy' as 'buy' | 'sell',
    order_type: 'limit',
    quantity: '',
    price: '',
    stop_price: '',
    time_in_force: 'DAY',
  });
  const [placed, setPlaced] = useState<string | undefined>();
  // The client_order_id: submitted again after a lost answer, the same order (the api places it once);
  // any change to the ticket makes it another order.
  const [key] = useState(() => new RetryKey());
  const submit = useSubmission();
  const type = ORDER_TYPES.find((t) => t.value === form.order_type) ?? ORDER_TYPES[0]!;
  const edit = (next: typeof form) => {
    key.renew();
    setForm(next);
  };
  const set = (k: keyof typeof form) => (v: string) => edit({ ...form, [k]: v });

  return (
    <Panel title="Order ticket" id="ticket">
      <form
        aria-label="Order ticket"
        onSubmit={(e) => {
          e.preventDefault();
          setPlaced(undefined);
          void submit.run(async () => {
            const order: Record<string, string> = {
              symbol: form.symbol,
              direction: form.direction,
              order_type: form.order_type,
              quantity: form.quantity,
              time_in_force: form.time_in_force,
            };
            for (const f of type.prices) if (form[f].trim()) order[f] = form[f];
            const res = await key.send((k) =>
              store.api.post<Order>('/api/v1/orders', { order: { ...order, client_order_id: `web-${k}` } }),
            );
            setPlaced(
              `${res.direction === 'buy' ? 'Buy' : 'Sell'} ${res.quantity} ${res.symbol}: ${statusLabel(res.status)}`,
            );
            store.scheduleReload();
          });
        }}
      >
        <div class="grid2">
          <Field
            label="Symbol"
            name="symbol"
            value={form.symbol}
            onInput={set('symbol')}
            required
            errors={submit.errors('symbol')}
          />
          <Select
            label="Side"
            name="direction"
            value={form.direction}
            options={SIDES}
            onChange={set('direction')}
            errors={submit.errors('direction')}
          />
          <Select
            label="Order type"
            name="order_type"
            value={form.order_type}
            options={ORDER_TYPES}
            onChange={(v) => {
              const next = ORDER_TYPES.find((t) => t.value === v)!;
              edit({
                ...form,
                order_type: v,
                time_in_force: next.timeInForce.includes(form.time_in_force)
                  ? form.time_in_force
                  : next.timeInForce[0]!,
              });
            }}
            errors={submit.errors('order_type')}
          />
          <Field
            label="Quantity (shares)"
            name="quantity"
            inputMode="numeric"
            value={form.quantity}
            onInput={set('quantity')}
            required
            errors={submit.errors('quantity')}
          />
          {type.prices.map((f) => (
            <Field
              key={f}
              label={PRICE_LABELS[f]}
              name={f}
              inputMode="decimal"
              value={form[f]}
              onInput={set(f)}
              hint={f === 'stop_price' ? STOP_HINTS[form.direction] : undefined}
              errors={submit.errors(f)}
            />
          ))}
          <Select
            label="Time in force"
            name="time_in_force"
            value={form.time_in_force}
            options={type.timeInForce.map((t) => ({ value: t, label: TIF_LABELS[t] ?? t }))}
            onChange={set('time_in_force')}
            errors={submit.errors('time_in_force')}
          />
        </div>
        <FormMessage error>{submit.general()}</FormMessage>
        <FormMessage>{placed}</FormMessage>
        <button type="submit" class={form.direction} disabled={submit.busy}>
          {form.direction === 'buy' ? 'Place buy order' : 'Place sell order'}
        </button>
      </form>
    </Panel>
  );
}
