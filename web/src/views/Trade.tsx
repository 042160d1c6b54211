/**
 * The signed-in page: connection state, password change, authenticator app, sessions and logout on top, then portfolio, ticket,
 * market, orders, activity.
 */
import { useRef, useState } from 'preact/hooks';
import type { FeedState } from '../feed.js';
import { useTrading, type Trading } from '../store.js';
import { FormMessage } from '../ui.js';
import { ChangePasswordPanel } from './Account.js';
import { ActivityPanel } from './Activity.js';
import { AuthenticatorPanel } from './Authenticator.js';
import { MarketPanel } from './Market.js';
import { OrdersPanel } from './Orders.js';
import { PortfolioPanel } from './Portfolio.js';
import { SessionsPanel } from './Sessions.js';
import { TicketPanel } from './Ticket.js';

const FEED_LABELS: Record<FeedState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

/** The panels the header's buttons open: the button's label, the panel's id, the panel. */
const HEADER_PANELS = [
  { label: 'Change password', id: 'change-password', Panel: ChangePasswordPanel },
  { label: 'Authenticator app', id: 'authenticator', Panel: AuthenticatorPanel },
  { label: 'Sessions', id: 'sessions', Panel: SessionsPanel },
] as const;

export function TradeView({ store, onLogout }: { store: Trading; onLogout: () => void }) {
  useTrading(store);
  const [symbol, setSymbol] = useState('AAPL');
  const [open, setOpen] = useState<string | undefined>();
  // A header button opens its panel (one at a time), and gets the focus back when the panel closes.
  const openers = useRef(new Map<string, HTMLButtonElement | null>());
  const panel = HEADER_PANELS.find((h) => h.id === open);
  return (
    <>
      <header class="top">
        <h1>BrokerX</h1>
        <p class={`feed feed-${store.feedState}`} role="status" data-testid="feed-state">
          <span class="dot" aria-hidden="true" /> Live feed: {FEED_LABELS[store.feedState]}
        </p>
        <p class="who">{store.session.info()?.email}</p>
        {HEADER_PANELS.map((h) => (
          <button
            key={h.id}
            type="button"
            ref={(el) => void openers.current.set(h.id, el)}
            aria-expanded={open === h.id}
            aria-controls={open === h.id ? h.id : undefined}
            onClick={() => setOpen(open === h.id ? undefined : h.id)}
          >
            {h.label}
          </button>
        ))}
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
        {panel && (
          <div class="wide">
            <panel.Panel
              key={panel.id}
              api={store.api}
              onClose={() => {
                setOpen(undefined);
                openers.current.get(panel.id)?.focus();
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
