/** The market of one symbol: best bid and ask, depth (10 levels), last trades; live from the feed. */
import { useEffect, useState } from 'preact/hooks';
import type { Level, Market, Trade } from '../api.js';
import type { Frame } from '../feed.js';
import { price } from '../money.js';
import type { Trading } from '../store.js';
import { Facts, Field, FormMessage, Panel, Table } from '../ui.js';

const TRADES_SHOWN = 15;

export function MarketPanel({
  store,
  symbol,
  onSymbol,
}: {
  store: Trading;
  symbol: string;
  onSymbol: (s: string) => void;
}) {
  const [input, setInput] = useState(symbol);
  const [market, setMarket] = useState<{
    bid: Level | null;
    ask: Level | null;
    bids: Level[];
    asks: Level[];
  }>();
  const [trades, setTrades] = useState<Trade[]>([]);
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    let live = true;
    setMarket(undefined);
    setTrades([]);
    setError(undefined);
    Promise.all([
      store.api.get<Market>(`/api/v1/market/${encodeURIComponent(symbol)}`),
      store.api.get<{ trades: Trade[] }>(`/api/v1/market/${encodeURIComponent(symbol)}/trades`),
    ]).then(
      ([m, t]) => {
        if (!live) return;
        setMarket(
          (cur) => cur ?? { bid: m.quote.bid, ask: m.quote.ask, bids: m.depth.bids, asks: m.depth.asks },
        );
        setTrades((cur) => (cur.length ? cur : t.trades.slice(0, TRADES_SHOWN)));
      },
      (err: Error) => live && setError(err.message),
    );
    const off = store.onMarket((f: Frame) => {
      if (f.symbol !== symbol) return;
      if (f.type === 'quote')
        setMarket((cur) => ({
          bids: [],
          asks: [],
          ...cur,
          bid: f.bid as Level | null,
          ask: f.ask as Level | null,
        }));
      else if (f.type === 'depth')
        setMarket((cur) => ({
          bid: null,
          ask: null,
          ...cur,
          bids: f.bids as Level[],
          asks: f.asks as Level[],
        }));
      else if (f.type === 'trade') {
        const t = {
          id: String(f.event_id),
          price: f.price as number,
          quantity: f.quantity as number,
          executed_at: String(f.ts),
        };
        setTrades((cur) => [t, ...cur].slice(0, TRADES_SHOWN));
      }
    });
    for (const c of ['quotes', 'depth', 'trades'] as const) store.feed.subscribe(c, symbol);
    return () => {
      live = false;
      off();
      for (const c of ['quotes', 'depth', 'trades'] as const) store.feed.unsubscribe(c, symbol);
    };
  }, [store, symbol]);

  // Back after a gap in the feed: trade prints are not replayed, read them again (quote and depth
  // come back as snapshots when the channels are subscribed again).
  const resyncs = store.resyncs;
  useEffect(() => {
    if (resyncs === 0) return;
    let live = true;
    store.api
      .get<{ trades: Trade[] }>(`/api/v1/market/${encodeURIComponent(symbol)}/trades`)
      .then((t) => live && setTrades(t.trades.slice(0, TRADES_SHOWN)))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [store, symbol, resyncs]);

  return (
    <Panel title={`Market: ${symbol}`} id="market">
      <form
        aria-label="Choose a symbol"
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          const s = input.trim().toUpperCase();
          if (s) onSymbol(s);
        }}
      >
        <Field label="Symbol" name="market-symbol" value={input} onInput={setInput} />
        <button type="submit">Show</button>
      </form>
      <FormMessage error>{error}</FormMessage>
      <Facts
        class="quote"
        items={[
          { label: 'Best bid', value: level(market?.bid), testId: 'best-bid' },
          { label: 'Best ask', value: level(market?.ask), testId: 'best-ask' },
        ]}
      />
      <div class="grid2">
        <DepthTable caption="Bids" levels={market?.bids ?? []} />
        <DepthTable caption="Asks" levels={market?.asks ?? []} />
      </div>
      <Table
        caption="Last trades"
        columns={[{ label: 'Time' }, { label: 'Price', num: true }, { label: 'Shares', num: true }]}
        items={trades}
        empty="No trades yet."
        testId="last-trades"
        row={(t) => (
          <tr key={t.id}>
            <td>{new Date(t.executed_at).toLocaleTimeString()}</td>
            <td class="num">{price(t.price)}</td>
            <td class="num">{t.quantity}</td>
          </tr>
        )}
      />
    </Panel>
  );
}

const level = (l: Level | null | undefined) => (l ? `${price(l.price)} × ${l.quantity}` : '—');

function DepthTable({ caption, levels }: { caption: string; levels: Level[] }) {
  return (
    <Table
      caption={caption}
      class="depth"
      columns={[
        { label: 'Price', num: true },
        { label: 'Shares', num: true },
        { label: 'Orders', num: true },
      ]}
      items={levels}
      empty="Empty"
      row={(l) => (
        <tr key={l.price}>
          <td class="num">{price(l.price)}</td>
          <td class="num">{l.quantity}</td>
          <td class="num">{l.orders}</td>
        </tr>
      )}
    />
  );
}
