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
 *
 * Only the api's refusal of the refresh token (401) ends the session. A refresh it could not answer (429,
 * a 5xx, no connection) leaves the session as it was, still due: tried again after the answer's
 * Retry-After, or at the next input. Where the page ends a session itself (the idle timeout, an access
 * token the api refuses), it logs out, so that the api's session ends too.
 */
import { ApiProblem, type Api, type Tokens } from './api.js';

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
  /** After a refresh the api could not answer: not tried again before this time (its Retry-After). */
  private retryAt = 0;
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
      await (this.mayRefresh() && this.api ? this.refresh(this.api) : this.nextRefresh()).catch(
        () => undefined,
      );
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
        if (err instanceof ApiProblem && err.status === 401) this.end();
        else if (this.tokens === current) this.retryLater(err);
        throw err;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /**
   * For the feed when its token expires: a refresh now if the user was active since the last one, else
   * at the user's next input. Resolves at the next refresh that succeeds; rejects when the session ends.
   */
  refreshWhenActive(api: Api): Promise<void> {
    if (!this.tokens) return Promise.reject(new Error('the session ended'));
    this.due = true;
    const next = this.nextRefresh();
    if (this.refreshing || this.mayRefresh()) void this.refresh(api).catch(() => undefined);
    return next;
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

  private end(reason?: 'idle'): void {
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
    if (this.due && this.mayRefresh() && this.api) void this.refresh(this.api).catch(() => undefined);
  };

  /** Due (again): refreshed now if the user was active since the last refresh, else at the next input. */
  private readonly becameDue = (): void => {
    this.due = true;
    if (this.mayRefresh() && this.api) void this.refresh(this.api).catch(() => undefined);
  };

  /** A refresh may go now: the user was there since the last one, and no Retry-After holds it back. */
  private mayRefresh(): boolean {
    return (this.active || !this.opts.activity) && Date.now() >= this.retryAt;
  }

  /** A refresh the api did not answer: the session stays, due, and is refreshed after its Retry-After. */
  private retryLater(err: unknown): void {
    const seconds = err instanceof ApiProblem ? (err.retryAfterSeconds ?? 0) : 0;
    this.due = true;
    this.retryAt = Date.now() + seconds * 1000;
    if (this.dueTimer) clearTimeout(this.dueTimer);
    this.dueTimer = seconds > 0 ? setTimeout(this.becameDue, seconds * 1000) : undefined;
  }

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
    this.dueTimer = setTimeout(this.becameDue, Math.max(5, seconds * 0.8) * 1000);
    const idle = this.opts.idleTimeoutSeconds;
    const api = this.api;
    if (idle && this.opts.activity && api)
      this.idleTimer = setTimeout(() => {
        // The api refuses this session from now on anyway; logging out ends it (and its sockets) at once.
        if (!this.active) void this.logout(api, 'idle');
      }, idle * 1000);
  }
}
