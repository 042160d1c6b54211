/**
 * The signed-in session, in memory only (ADR 0025): the access token and the refresh token live in this
 * object and nowhere else (no cookie, no storage), so a reload asks for a new login. The access token is
 * renewed through POST /api/v1/auth/refresh shortly before it expires.
 */
import type { Api, Tokens } from './api.js';

export interface SessionInfo {
  email: string;
  userId: string;
  accountId: string;
}

export class Session {
  private tokens: Tokens | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<void> | undefined;
  /** Told of every new access token (the live feed passes it on). */
  onToken: (token: string) => void = () => {};
  /** Told when the session ends (logout, refresh refused). */
  onEnd: () => void = () => {};

  accessToken = (): string | undefined => this.tokens?.access_token;

  info(): SessionInfo | undefined {
    const t = this.tokens;
    return t && { email: t.email, userId: t.user_id, accountId: t.account_id };
  }

  start(tokens: Tokens, api: Api): void {
    this.tokens = tokens;
    this.schedule(api);
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
        this.schedule(api);
        this.onToken(next.access_token);
      } catch (err) {
        this.end();
        throw err;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  async logout(api: Api): Promise<void> {
    const t = this.tokens;
    if (t) {
      await api.post('/api/v1/auth/logout', { refresh_token: t.refresh_token }).catch(() => undefined);
    }
    this.end();
  }

  end(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const had = this.tokens !== undefined;
    this.tokens = undefined;
    if (had) this.onEnd();
  }

  /** Refresh at four fifths of the access token's life. */
  private schedule(api: Api): void {
    if (this.timer) clearTimeout(this.timer);
    const seconds = this.tokens?.expires_in ?? 0;
    this.timer = setTimeout(
      () => void this.refresh(api).catch(() => undefined),
      Math.max(5, seconds * 0.8) * 1000,
    );
  }
}
