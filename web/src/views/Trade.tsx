/**
 * The signed-in page: connection state, password change and logout on top, then portfolio, ticket,
 * market, orders, activity.
 */
import { useRef, useState } from 'preact/hooks';
import type { FeedState } from '../feed.js';
import { useTrading, type Trading } from '../store.js';
import { FormMessage } from '../ui.js';
import { ChangePasswordPanel } from './Account.js';
import { ActivityPanel } from './Activity.js';
import { MarketPanel } from './Market.js';
import { OrdersPanel } from './Orders.js';
import { PortfolioPanel } from './Portfolio.js';
import { TicketPanel } from './Ticket.js';

const FEED_LABELS: Record<FeedState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

export function TradeView({ store, onLogout }: { store: Trading; onLogout: () => void }) {
  useTrading(store);
  const [symbol, setSymbol] = useState('AAPL');
  const [changing, setChanging] = useState(false);
  // The header's button opens the password change, and gets the focus back when it closes.
  const changeButton = useRef<HTMLButtonElement>(null);
  return (
    <>
      <header class="top">
        <h1>BrokerX</h1>
        <p class={`feed feed-${store.feedState}`} role="status" data-testid="feed-state">
          <span class="dot" aria-hidden="true" /> Live feed: {FEED_LABELS[store.feedState]}
        </p>
        <p class="who">{store.session.info()?.email}</p>
        <button
          type="button"
          ref={changeButton}
          aria-expanded={changing}
          aria-controls={changing ? 'change-password' : undefined}
          onClick={() => setChanging(!changing)}
        >
          Change password
        </button>
        <button type="button" onClick={onLogout}>
          Log out
        </button>
      </header>
      <main id="main" class="trade">
        {store.loadError && (
          <div class="wide">
            <FormMessage error>{store.loadError}</FormMessage>
          </div>
        )}
        {changing && (
          <div class="wide">
            <ChangePasswordPanel
              api={store.api}
              onClose={() => {
                setChanging(false);
                changeButton.current?.focus();
              }}
            />
          </div>
        )}
        <div class="col">
          <PortfolioPanel store={store} />
          <TicketPanel store={store} symbol={symbol} />
        </div>
        <div class="col">
          <MarketPanel store={store} symbol={symbol} onSymbol={setSymbol} />
          <ActivityPanel store={store} />
        </div>
        <div class="wide">
          <OrdersPanel store={store} />
        </div>
      </main>
    </>
  );
}
