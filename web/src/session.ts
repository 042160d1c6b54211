/**
 * The signed-in session, in memory only (ADR 0025): the access token and the refresh token live in this
 * object and nowhere else (no cookie, no storage), so a reload asks for a new login.
 *
 * The access token is renewed through POST /api/v1/auth/refresh only while the user is there: when it is
 * due (four fifths of its life) and the user has pressed a key, clicked or touched the page since the
 * last refresh, or at the first such input after it became due. An unattended page never refreshes, so
 * the api's idle timeout (REFRESH_IDLE_TIMEOUT_SECONDS, ADR 0008) means the same for an open page as for
 * a closed one: when it has passed without input since the last refresh, the page logs out. Until then a
 * request or the feed that needs a token waits for the next input, which refreshes first.
 */
import type { Api, Tokens } from './api.js';

export interface SessionInfo {
  email: string;
  userId: string;
  accountId: string;
}

/** What counts as the user being there: input, not the pointer merely passing over the page. */
export const ACTIVITY_EVENTS = ['keydown', 'pointerdown', 'touchstart', 'wheel'] as const;

export interface SessionOptions {
  /** Where the user's input events arrive (the document); none: every refresh that is due happens. */
  activity?: EventTarget;
  /** The api's idle timeout in seconds (the `brokerx:idle-timeout` meta tag). */
  idleTimeoutSeconds?: number;
}

export class Session {
  private tokens: Tokens | undefined;
  private dueTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<void> | undefined;
  private api: Api | undefined;
  /** Input since the last refresh (or the login). */
  private active = false;
  /** When the access token expires (by this page's clock). */
  private expiresAt = 0;
  /** The access token is due for renewal (or expired) and waits for the user's next input. */
  private due = false;
  /** Requests and the feed waiting for the next refresh. */
  private waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** Told of every new access token (the live feed passes it on). */
  onToken: (token: string) => void = () => {};
  /** Told when the session ends (logout, refresh refused, idle timeout); `idle` for the idle timeout. */
  onEnd: (reason?: 'idle') => void = () => {};

  constructor(private readonly opts: SessionOptions = {}) {}

  accessToken = (): string | undefined => this.tokens?.access_token;

  /** The access token for a request: after the pending refresh, or the one the user's input starts. */
  usableToken = async (): Promise<string | undefined> => {
    // Expired while the tab's timers slept: due as well.
    if (this.tokens && Date.now() >= this.expiresAt - 5000) this.due = true;
    if (this.refreshing) await this.refreshing.catch(() => undefined);
    else if (this.due && this.tokens)
      await (
        (this.active || !this.opts.activity) && this.api ? this.refresh(this.api) : this.nextRefresh()
      ).catch(() => undefined);
    return this.tokens?.access_token;
  };

  info(): SessionInfo | undefined {
    const t = this.tokens;
    return t && { email: t.email, userId: t.user_id, accountId: t.account_id };
  }

  start(tokens: Tokens, api: Api): void {
    this.tokens = tokens;
    this.api = api;
    for (const type of ACTIVITY_EVENTS)
      this.opts.activity?.addEventListener(type, this.onActivity, { capture: true, passive: true });
    this.renewed();
  }

  /** A new access and refresh token (the old refresh token stops working). */
  refresh(api: Api): Promise<void> {
    this.refreshing ??= (async () => {
      const current = this.tokens;
      if (!current) throw new Error('not signed in');
      try {
        const next = await api.post<Tokens>(
          '/api/v1/auth/refresh',
          { refresh_token: current.refresh_token },
          { anonymous: true },
        );
        if (this.tokens !== current) return;
        this.tokens = next;
        this.renewed();
        this.onToken(next.access_token);
        for (const w of this.waiting.splice(0)) w.resolve();
      } catch (err) {
        this.end();
        throw err;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /**
   * For the feed when its token expires: a refresh now if the user was active since the last one, else
   * at the user's next input. Rejects when the session ends meanwhile.
   */
  refreshWhenActive(api: Api): Promise<void> {
    if (this.refreshing || this.active || !this.opts.activity) return this.refresh(api);
    this.due = true;
    return this.nextRefresh();
  }

  /** End the session at the api (by its refresh token: the access token may have expired), then here. */
  async logout(api: Api, reason?: 'idle'): Promise<void> {
    const t = this.tokens;
    if (t) {
      await api
        .post('/api/v1/auth/logout', { refresh_token: t.refresh_token }, { anonymous: true })
        .catch(() => undefined);
    }
    this.end(reason);
  }

  end(reason?: 'idle'): void {
    this.clearTimers();
    for (const type of ACTIVITY_EVENTS)
      this.opts.activity?.removeEventListener(type, this.onActivity, { capture: true });
    const had = this.tokens !== undefined;
    this.tokens = undefined;
    for (const w of this.waiting.splice(0)) w.reject(new Error('the session ended'));
    if (had) this.onEnd(reason);
  }

  private nextRefresh(): Promise<void> {
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private readonly onActivity = (): void => {
    this.active = true;
    if (this.due && this.api) void this.refresh(this.api).catch(() => undefined);
  };

  private clearTimers(): void {
    if (this.dueTimer) clearTimeout(this.dueTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.dueTimer = this.idleTimer = undefined;
  }

  /**
   * After a login or refresh: due at four fifths of the access token's life (refreshed then if the user
   * was active, else at the next input); logged out at the idle timeout if no input came.
   */
  private renewed(): void {
    this.clearTimers();
    this.active = false;
    this.due = false;
    const seconds = this.tokens?.expires_in ?? 0;
    this.expiresAt = Date.now() + seconds * 1000;
    this.dueTimer = setTimeout(
      () => {
        this.due = true;
        if ((this.active || !this.opts.activity) && this.api)
          void this.refresh(this.api).catch(() => undefined);
      },
      Math.max(5, seconds * 0.8) * 1000,
    );
    const idle = this.opts.idleTimeoutSeconds;
    const api = this.api;
    if (idle && this.opts.activity && api)
      this.idleTimer = setTimeout(() => {
        // The api refuses this session from now on anyway; logging out ends it (and its sockets) at once.
        if (!this.active) void this.logout(api, 'idle');
      }, idle * 1000);
  }
}
