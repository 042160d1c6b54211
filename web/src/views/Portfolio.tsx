/** Cash (available, reserved), positions at their last price, and a deposit form. */
import { useState } from 'preact/hooks';
import { RetryKey } from '../api.js';
import { useSubmission } from '../forms.js';
import { toCents, usd } from '../money.js';
import type { Trading } from '../store.js';
import { Facts, Field, FormMessage, Panel, Table } from '../ui.js';

export function PortfolioPanel({ store }: { store: Trading }) {
  const p = store.portfolio;
  const cash = p && {
    available: toCents(p.balances_decimal.available),
    reserved: toCents(p.balances_decimal.reserved),
    total: toCents(p.balances_decimal.total),
  };
  const rows = (p?.positions ?? []).map((pos) => {
    const last = store.lastPrices.get(pos.symbol);
    return { ...pos, last, value: last === undefined ? undefined : last * BigInt(pos.quantity) };
  });
  const positionsValue = rows.every((r) => r.value !== undefined)
    ? rows.reduce((sum, r) => sum + r.value!, 0n)
    : undefined;
  return (
    <Panel title="Portfolio" id="portfolio">
      <Facts
        class="cash"
        items={[
          { label: 'Cash available', value: usd(cash?.available), testId: 'cash-available' },
          { label: 'Cash reserved', value: usd(cash?.reserved), testId: 'cash-reserved' },
          { label: 'Positions value', value: usd(positionsValue), testId: 'positions-value' },
          {
            label: 'Account value',
            value: usd(
              cash?.total !== undefined && positionsValue !== undefined
                ? cash.total + positionsValue
                : undefined,
            ),
            testId: 'account-value',
          },
        ]}
      />
      <Table
        caption="Positions"
        columns={[
          { label: 'Symbol' },
          { label: 'Shares', num: true },
          { label: 'Reserved', num: true },
          { label: 'Last price', num: true },
          { label: 'Value', num: true },
        ]}
        items={rows}
        empty="No positions yet."
        row={(r) => (
          <tr key={r.symbol} data-position={r.symbol}>
            <th scope="row">{r.symbol}</th>
            <td class="num">{r.quantity}</td>
            <td class="num">{r.reserved}</td>
            <td class="num">{usd(r.last)}</td>
            <td class="num">{usd(r.value)}</td>
          </tr>
        )}
      />
      <DepositForm store={store} />
    </Panel>
  );
}

function DepositForm({ store }: { store: Trading }) {
  const [amount, setAmount] = useState('');
  const [done, setDone] = useState<string | undefined>();
  // Pressed again after a lost answer, the same deposit: the api makes it once.
  const [key] = useState(() => new RetryKey());
  const submit = useSubmission();
  return (
    <form
      aria-label="Deposit"
      class="inline"
      onSubmit={(e) => {
        e.preventDefault();
        setDone(undefined);
        void submit.run(async () => {
          await key.send((k) =>
            store.api.post(
              '/api/v1/deposits',
              { amount, currency: 'USD' },
              { headers: { 'idempotency-key': k } },
            ),
          );
          setDone(`Deposited ${usd(toCents(amount))}`);
          setAmount('');
          await store.reload();
        });
      }}
    >
      <Field
        label="Deposit amount (USD)"
        name="amount"
        inputMode="decimal"
        value={amount}
        onInput={(v) => {
          key.renew();
          setAmount(v);
        }}
        required
        errors={submit.errors('amount')}
      />
      <button type="submit" disabled={submit.busy}>
        Deposit
      </button>
      <FormMessage error>{submit.general()}</FormMessage>
      <FormMessage>{done}</FormMessage>
    </form>
  );
}
