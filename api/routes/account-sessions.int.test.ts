/**
 * A user's own sessions (ASVS 5.0 7.5.2) against the real api (Postgres, Redis, Mailpit): the list shows
 * each live session with where it started and was last used and which one is the caller's; ending one
 * refuses its refresh token and access token and closes its live-feed socket (4003); another user's
 * session, an unknown one and an ended one are all the same 404, and end nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../../test/helpers.js';
import { expectProblem } from '../../test/http.js';
import { loginWithEmailCode, registerVerifiedUser, type TestUser } from '../../test/users.js';
import { connectFeed, serveWithFeed, type ServedFeed } from '../ws/testing.js';

interface Source {
  ip: string | null;
  user_agent: string | null;
}
interface SessionJson {
  session_id: string;
  current: boolean;
  created_at: string;
  last_used_at: string;
  created_from: Source;
  last_used_from: Source;
}

let api: TestApi;
let served: ServedFeed;
beforeAll(async () => {
  api = await createTestApi({ TRUSTED_PROXY_HOPS: '1' });
  served = await serveWithFeed(api.app, api.deps);
});
afterAll(async () => {
  await served?.close();
  await api?.close();
});

const sidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;
const list = async (token: string): Promise<SessionJson[]> => {
  const res = await api.call('GET', '/api/v1/auth/sessions', { token });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return ((await res.json()) as { sessions: SessionJson[] }).sessions;
};
const end = (token: string, sessionId: string) =>
  api.call('DELETE', `/api/v1/auth/sessions/${sessionId}`, { token });
const refresh = (refreshToken: string, headers?: Record<string, string>) =>
  api.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshToken }, headers });

describe('GET /api/v1/auth/sessions', () => {
  it("lists the caller's live sessions with where each started and was last used, and marks the caller's", async () => {
    const user = await registerVerifiedUser(api);
    const desk = { 'x-forwarded-for': '198.51.100.10', 'user-agent': 'Desk/1.0' };
    const phone = { 'x-forwarded-for': '203.0.113.20', 'user-agent': 'Phone/2.0\u0007' };
    const second = await loginWithEmailCode(api, user.email, user.password, desk);
    const other = await registerVerifiedUser(api); // another user's sessions never show

    const before = await list(user.token);
    expect(before.map((s) => s.session_id).sort()).toEqual([sidOf(user.token), sidOf(second.token)].sort());
    expect(before.find((s) => s.current)?.session_id).toBe(sidOf(user.token));
    const atDesk = before.find((s) => s.session_id === sidOf(second.token))!;
    expect(atDesk.current).toBe(false);
    expect(atDesk.created_from).toEqual({ ip: '198.51.100.10', user_agent: 'Desk/1.0' });
    expect(atDesk.last_used_from).toEqual(atDesk.created_from);
    expect(atDesk.last_used_at).toBe(atDesk.created_at);
    expect(before.map((s) => s.session_id)).not.toContain(sidOf(other.token));

    // A refresh from elsewhere is the session's last use; its start stays (the User-Agent printable only).
    const rotated = await refresh(second.refresh_token, phone);
    expect(rotated.status).toBe(200);
    const secondToken = ((await rotated.json()) as { token: string }).token;
    const after = await list(secondToken);
    const moved = after.find((s) => s.session_id === sidOf(second.token))!;
    expect(moved.current).toBe(true);
    expect(moved.created_from).toEqual({ ip: '198.51.100.10', user_agent: 'Desk/1.0' });
    expect(moved.last_used_from).toEqual({ ip: '203.0.113.20', user_agent: 'Phone/2.0' });
    expect(moved.created_at).toBe(atDesk.created_at);
    expect(Date.parse(moved.last_used_at)).toBeGreaterThanOrEqual(Date.parse(moved.created_at));
    expect(after[0]?.session_id, 'last used first').toBe(sidOf(second.token));

    // A logged-out session is gone from the list.
    expect((await api.call('POST', '/api/v1/auth/logout', { token: user.token })).status).toBe(200);
    expect((await list(secondToken)).map((s) => s.session_id)).toEqual([sidOf(second.token)]);
  });

  it('needs an access token', async () => {
    await expectProblem(await api.call('GET', '/api/v1/auth/sessions'), 401, 'unauthorized');
  });
});

describe('DELETE /api/v1/auth/sessions/{session_id}', () => {
  let user: TestUser;
  let other: TestUser;
  beforeAll(async () => {
    user = await registerVerifiedUser(api);
    other = await registerVerifiedUser(api);
  });

  it("another user's session, an unknown one and a malformed id end nothing, and say nothing", async () => {
    const notFound = await expectProblem(await end(user.token, sidOf(other.token)), 404, 'not_found');
    const unknown = await expectProblem(await end(user.token, crypto.randomUUID()), 404, 'not_found');
    expect(notFound.detail).toBe(unknown.detail);
    await expectProblem(await end(user.token, 'not-a-session'), 422, 'validation_failed');
    await expectProblem(
      await api.call('DELETE', `/api/v1/auth/sessions/${sidOf(other.token)}`),
      401,
      'unauthorized',
    );
    expect((await api.call('GET', '/api/v1/portfolio', { token: other.token })).status).toBe(200);
    expect((await list(other.token)).map((s) => s.session_id)).toEqual([sidOf(other.token)]);
  });

  it('ends one of my sessions: its refresh token, its access token and its live-feed socket stop, mine go on', async () => {
    const second = await loginWithEmailCode(api, user.email, user.password);
    const socket = await connectFeed(served.url, { token: second.token, tokenInProtocol: true });
    const ended = await end(user.token, sidOf(second.token));
    expect(ended.status).toBe(200);
    expect(ended.headers.get('cache-control')).toBe('no-store');
    expect((await socket.closed).code).toBe(4003);
    await expectProblem(await api.call('GET', '/api/v1/portfolio', { token: second.token }), 401);
    await expectProblem(await refresh(second.refresh_token), 401, 'unauthorized');
    // Already ended: like an unknown one.
    await expectProblem(await end(user.token, sidOf(second.token)), 404, 'not_found');
    expect((await api.call('GET', '/api/v1/portfolio', { token: user.token })).status).toBe(200);
    expect((await list(user.token)).map((s) => s.session_id)).toEqual([sidOf(user.token)]);
  });
});
