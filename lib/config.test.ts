import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig: session durations (ADR 0008)', () => {
  it('defaults to a 30-minute idle timeout and a 5-minute re-authentication window', () => {
    const config = loadConfig({});
    expect(config.REFRESH_IDLE_TIMEOUT_SECONDS).toBe(1800);
    expect(config.REAUTH_TTL_SECONDS).toBe(300);
  });

  it('refuses an idle timeout that a client in use (one refresh per access token) would hit', () => {
    expect(() => loadConfig({ REFRESH_IDLE_TIMEOUT_SECONDS: '900' })).toThrow(ConfigError);
    expect(() =>
      loadConfig({ ACCESS_TOKEN_TTL_SECONDS: '60', REFRESH_IDLE_TIMEOUT_SECONDS: '120' }),
    ).not.toThrow();
    expect(() => loadConfig({ REAUTH_TTL_SECONDS: '7200' })).toThrow(ConfigError);
  });
});

describe("loadConfig: the sagas' matching start-to-close and schedule-to-close", () => {
  it('defaults to 10 s and refuses less than 1 s or more than the 2-minute schedule-to-close', () => {
    expect(loadConfig({}).MATCHING_START_TO_CLOSE_MS).toBe(10_000);
    expect(loadConfig({ MATCHING_START_TO_CLOSE_MS: '4500' }).MATCHING_START_TO_CLOSE_MS).toBe(4500);
    for (const bad of ['500', '120001', '2.5s'])
      expect(() => loadConfig({ MATCHING_START_TO_CLOSE_MS: bad })).toThrow(ConfigError);
  });

  it('schedule-to-close defaults to 2 minutes, at least 1 s and not below the start-to-close', () => {
    expect(loadConfig({}).MATCHING_SCHEDULE_TO_CLOSE_MS).toBe(120_000);
    const short = { MATCHING_START_TO_CLOSE_MS: '1000', MATCHING_SCHEDULE_TO_CLOSE_MS: '4500' };
    expect(loadConfig(short).MATCHING_SCHEDULE_TO_CLOSE_MS).toBe(4500);
    for (const bad of ['500', '2.5s', '9999'])
      expect(() => loadConfig({ MATCHING_SCHEDULE_TO_CLOSE_MS: bad })).toThrow(ConfigError);
  });
});

describe('loadConfig: PUBLIC_URL', () => {
  it("drops a trailing '/', so that the links in mails are not '//verify'", () => {
    expect(loadConfig({ PUBLIC_URL: 'https://brokerx.example/' }).PUBLIC_URL).toBe('https://brokerx.example');
    expect(loadConfig({ PUBLIC_URL: 'https://brokerx.example/app//' }).PUBLIC_URL).toBe(
      'https://brokerx.example/app',
    );
    expect(loadConfig({ PUBLIC_URL: 'https://brokerx.example' }).PUBLIC_URL).toBe('https://brokerx.example');
  });
});
