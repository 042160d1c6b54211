/**
 * The signed-in trader's data: portfolio, open orders, order history, the live activity of the account
 * and the last price of each held symbol. REST gives the state; every account event from the live feed
 * marks it stale and it is read again (debounced), so the page never computes balances itself.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, Order, Portfolio, Trade } from './api.js';
import { LiveFeed, feedUrl, type AccountEvent, type FeedState, type Frame } from './feed.js';
import { toCents } from './money.js';
import type { Session } from './session.js';

/** What GET /api/v1/orders?status= calls open: placed, waiting for a stop's trigger, resting. */
export const OPEN_STATUSES = ['pending', 'pending_trigger', 'working', 'partially_filled'];
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
/** An order status as the page says it. */
export const statusLabel = (s: string) => STATUS_LABELS[s] ?? s;
const ACTIVITY_LIMIT = 200;
const RELOAD_DEBOUNCE_MS = 100;

export interface PageConfig {
  /** Base URL of the Temporal Web UI (the `brokerx:temporal-ui` meta tag). */
  temporalUi: string;
  temporalNamespace: string;
  /** The api's session idle timeout in seconds (`brokerx:idle-timeout`): an unattended page logs out then. */
  idleTimeoutSeconds?: number;
}

export class Trading {
  portfolio: Portfolio | undefined;
  openOrders: Order[] = [];
  history: Order[] = [];
  /** Account events received live, newest first, each once. */
  activity: AccountEvent[] = [];
  lastPrices = new Map<string, bigint>();
  feedState: FeedState = 'offline';
  /** How often the feed came back after a gap (market views read REST again then). */
  resyncs = 0;
  private wasLive = false;
  /** Why the last reload failed, until one succeeds. */
  loadError: string | undefined;
  readonly feed: LiveFeed;
  private readonly listeners = new Set<() => void>();
  private readonly marketListeners = new Set<(frame: Frame) => void>();
  private readonly tracked = new Set<string>();
  private reloadTimer: ReturnType<typeof setTimeout> | undefined;
  /** Reloads started: the number of the latest. */
  private loads = 0;

  constructor(
    readonly api: Api,
    readonly session: Session,
    readonly config: PageConfig,
  ) {
    this.feed = new LiveFeed({
      url: feedUrl(location),
      token: session.accessToken,
      onEvent: (event) => {
        this.activity = [event, ...this.activity].slice(0, ACTIVITY_LIMIT);
        this.changed();
        this.scheduleReload();
      },
      onMarket: (frame) => {
        if (frame.type === 'trade' && typeof frame.symbol === 'string' && this.tracked.has(frame.symbol)) {
          const cents = toCents(frame.price as number);
          if (cents !== undefined) this.lastPrices.set(frame.symbol, cents);
          this.changed();
        }
        for (const l of this.marketListeners) l(frame);
      },
      onState: (state) => {
        this.feedState = state;
        if (state === 'live') {
          // Back live after a gap: account events were replayed, but market frames are not resumable:
          // the trades printed meanwhile come from REST (views watch `resyncs`).
          if (this.wasLive) {
            this.resyncs += 1;
            void this.refreshPrices([...this.tracked]).catch(() => undefined);
          }
          this.wasLive = true;
          this.scheduleReload();
        }
        this.changed();
      },
      onSessionEnded: () => void session.logout(api),
      refreshToken: () => session.refreshWhenActive(api),
    });
  }

  start(): void {
    this.feed.start();
    void this.reload().catch(() => undefined);
  }

  /**
   * Read portfolio and orders again; a failure is shown (loadError) and the next reload may clear it.
   * Reloads may overlap (a deposit's, the feed's): only the latest one's answer counts, so an older one
   * that answers last does not put back what the newer one replaced.
   */
  async reload(): Promise<void> {
    const n = ++this.loads;
    try {
      const [portfolio, open, history] = await Promise.all([
        this.api.get<Portfolio>('/api/v1/portfolio'),
        this.api.get<{ orders: Order[] }>(`/api/v1/orders?status=${OPEN_STATUSES.join(',')}&limit=100`),
        this.api.get<{ orders: Order[] }>('/api/v1/orders?limit=50'),
      ]);
      if (n !== this.loads) return;
      this.portfolio = portfolio;
      this.openOrders = open.orders;
      this.history = history.orders;
      this.loadError = undefined;
      await this.trackPrices(portfolio.positions.map((p) => p.symbol));
    } catch (err) {
      if (n === this.loads) this.loadError = `Could not load your account: ${(err as Error).message}`;
      throw err;
    } finally {
      this.changed();
    }
  }

  stop(): void {
    this.feed.stop();
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.listeners.clear();
    this.marketListeners.clear();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onMarket(listener: (frame: Frame) => void): () => void {
    this.marketListeners.add(listener);
    return () => this.marketListeners.delete(listener);
  }

  scheduleReload(): void {
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      void this.reload().catch(() => undefined);
    }, RELOAD_DEBOUNCE_MS);
  }

  /** The Temporal Web UI page of an order's saga (workflow id `order-<account>-<client order id>`). */
  sagaUrl(order: Order): string {
    const account = this.session.info()?.accountId ?? '';
    const id = encodeURIComponent(`order-${account}-${order.client_order_id}`);
    return `${this.config.temporalUi.replace(/\/$/, '')}/namespaces/${encodeURIComponent(this.config.temporalNamespace)}/workflows/${id}`;
  }

  private async trackPrices(symbols: string[]): Promise<void> {
    const fresh = symbols.filter((s) => !this.tracked.has(s));
    for (const s of fresh) {
      this.tracked.add(s);
      this.feed.subscribe('trades', s);
    }
    await this.refreshPrices(fresh, false);
  }

  /** The last trade's price of each symbol from REST (`overwrite`: also where the feed gave one). */
  private async refreshPrices(symbols: string[], overwrite = true): Promise<void> {
    await Promise.all(
      symbols.map(async (s) => {
        const { trades } = await this.api.get<{ trades: Trade[] }>(`/api/v1/market/${s}/trades`);
        const last = trades[0] ? toCents(trades[0].price) : undefined;
        if (last !== undefined && (overwrite || !this.lastPrices.has(s))) this.lastPrices.set(s, last);
      }),
    );
    this.changed();
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}

/** Re-render when the store changes. */
export function useTrading(store: Trading): Trading {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), [store]);
  return store;
}
