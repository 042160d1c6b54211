/**
 * The page's session refreshes only for a user who is there (web/src/session.ts): input since the last
 * refresh, or input once the token is due; an unattended page logs out at the idle timeout. Only the
 * api's refusal (401) of a refresh ends it; a refresh it could not answer is tried again.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiProblem, type Api, type Tokens } from './api.js';
import { Session } from './session.js';

const problem = (status: number, retryAfterSeconds?: number) =>
  new ApiProblem({ status, code: String(status), message: String(status), errors: [], retryAfterSeconds });

const tokens = (n: number): Tokens => ({
  access_token: `access-${n}`,
  refresh_token: `refresh-${n}`,
  expires_in: 100,
  email: 'ada@example.com',
  user_id: 'u',
  account_id: 'a',
});

function harness(idleTimeoutSeconds = 300) {
  const activity = new EventTarget();
  const calls: { path: string; body: unknown; anonymous?: boolean }[] = [];
  let issued = 1;
  const post = vi.fn(async (path: string, body: unknown, opts?: { anonymous?: boolean }) => {
    calls.push({ path, body, anonymous: opts?.anonymous });
    return path.endsWith('/refresh') ? tokens(++issued) : {};
  });
  const api = { post } as unknown as Api;
  const session = new Session({ activity, idleTimeoutSeconds });
  const ended: (string | undefined)[] = [];
  session.onEnd = (reason) => ended.push(reason ?? 'ended');
  session.start(tokens(1), api);
  const input = () => activity.dispatchEvent(new Event('keydown'));
  /** The paths posted, failed ones too. */
  const posted = () => post.mock.calls.map(([path]) => path);
  return { session, api, post, calls, ended, input, posted };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('Session: refresh while the user is there, log out at the idle timeout', () => {
  it('an unattended page never refreshes and logs out (by its refresh token) at the idle timeout', async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(299_000);
    expect(h.calls).toEqual([]);
    expect(h.ended).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.calls).toEqual([
      { path: '/api/v1/auth/logout', body: { refresh_token: 'refresh-1' }, anonymous: true },
    ]);
    expect(h.ended).toEqual(['idle']);
    expect(h.session.accessToken()).toBeUndefined();
  });

  it('input before the token is due: refreshed when due, and the idle timeout starts again', async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(10_000);
    h.input();
    expect(h.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(70_000); // due at 80 s
    expect(h.calls.map((c) => c.path)).toEqual(['/api/v1/auth/refresh']);
    expect(h.session.accessToken()).toBe('access-2');
    await vi.advanceTimersByTimeAsync(299_000); // 299 s after the refresh, no input since
    expect(h.ended).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.ended).toEqual(['idle']);
  });

  it('input after the token is due refreshes at once; a request waits for that refresh', async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(120_000); // due and expired, no input
    expect(h.calls).toEqual([]);
    const token = h.session.usableToken();
    h.input();
    expect(await token).toBe('access-2');
    expect(h.calls.map((c) => c.path)).toEqual(['/api/v1/auth/refresh']);
  });

  it("the feed's refresh waits for the user's input when nobody was there", async () => {
    const h = harness();
    let done = false;
    const refreshed = h.session.refreshWhenActive(h.api).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(done).toBe(false);
    h.input();
    await refreshed;
    expect(h.session.accessToken()).toBe('access-2');
  });

  it('a refresh the api refuses ends the session and the requests waiting for it', async () => {
    const h = harness();
    h.post.mockRejectedValueOnce(problem(401));
    await vi.advanceTimersByTimeAsync(120_000);
    const waiting = h.session.refreshWhenActive(h.api);
    h.input();
    await expect(waiting).rejects.toThrow();
    expect(h.ended).toEqual(['ended']);
  });

  it('a refresh the api could not answer (503) keeps the session, due, and is made after its Retry-After', async () => {
    const h = harness();
    h.post.mockRejectedValueOnce(problem(503, 5));
    h.input();
    await vi.advanceTimersByTimeAsync(80_000); // due at 80 s, the user was there
    expect(h.posted()).toEqual(['/api/v1/auth/refresh']);
    expect(h.ended).toEqual([]);
    expect(h.session.accessToken()).toBe('access-1');
    // The feed's token expires meanwhile: it waits for the refresh that works.
    let refreshed = false;
    const feed = h.session.refreshWhenActive(h.api).then(() => (refreshed = true));
    h.input(); // before the Retry-After: not tried again
    await vi.advanceTimersByTimeAsync(4_000);
    expect(h.posted()).toHaveLength(1);
    expect(refreshed).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    await feed;
    expect(h.posted()).toEqual(['/api/v1/auth/refresh', '/api/v1/auth/refresh']);
    expect(h.calls[0]?.body).toEqual({ refresh_token: 'refresh-1' });
    expect(h.session.accessToken()).toBe('access-2');
    expect(h.ended).toEqual([]);
  });

  it('a refresh without an answer (no connection) is made again at the next input', async () => {
    const h = harness();
    h.post.mockRejectedValueOnce(problem(0));
    await vi.advanceTimersByTimeAsync(120_000); // due and expired, no input
    const token = h.session.usableToken();
    h.input();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.posted()).toEqual(['/api/v1/auth/refresh']);
    expect(h.ended).toEqual([]);
    h.input();
    expect(await token).toBe('access-2');
    expect(h.posted()).toEqual(['/api/v1/auth/refresh', '/api/v1/auth/refresh']);
  });
});
