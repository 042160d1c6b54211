/**
 * connectRedis's commands during an outage (Redis refused through a TCP proxy, as a restart looks): each
 * fails after the command timeout and never runs once Redis is back (ADR 0017).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectUnavailable, startTcpProxy, type TcpProxy } from '../test/faults.js';
import { createTestApi, testConfig, type TestApi } from '../test/helpers.js';
import { registerVerifiedUser, TEST_PASSWORD } from '../test/users.js';

let proxy: TcpProxy;
let api: TestApi;
beforeAll(async () => {
  proxy = await startTcpProxy(testConfig().REDIS_URL);
  api = await createTestApi({ REDIS_URL: proxy.url });
});
afterAll(async () => {
  await api?.close();
  await proxy?.close();
});

it('logins answered 503 during a Redis outage are not counted once it is back', async () => {
  const user = await registerVerifiedUser(api);
  const login = () =>
    api.call('POST', '/api/v1/auth/login', { body: { email: user.email, password: TEST_PASSWORD } });
  const redis = api.deps.redis;
  void proxy.outage();
  // One more than the per-(account, address) limit: had their rate-limit hits run late, the next login
  // would be refused for the whole window.
  for (let i = 0; i < 11; i++) await expectUnavailable(await login());
  proxy.resume();
  // The commands ioredis kept for the reconnect are sent as it turns ready, before anything later.
  await new Promise((resolve) => redis.once('ready', resolve));
  const res = await login();
  expect(res.status, await res.text()).toBe(200);
}, 60_000);
