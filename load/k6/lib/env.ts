/**
 * The k6 scripts' settings, from `-e NAME=value` or the container's environment (docker-compose.yml sets
 * BASE_URL and MAILPIT_URL for the `k6` service). The same names as the Node generator's (load/run.ts).
 */
import {
  applyOverrides,
  DEFAULT_USERS,
  PROFILES,
  type Overrides,
  type Profile,
  type ScenarioName,
} from './profiles.ts';

const env = (name: string): string | undefined => {
  const v = __ENV[name];
  return v === undefined || v === '' ? undefined : v;
};

const positive = (name: string): number | undefined => {
  const v = env(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
};

/** The api, or the load balancer in front of it. */
export const BASE_URL = (env('BASE_URL') ?? 'http://localhost:3000').replace(/\/+$/, '');
/** Mailpit's HTTP API: verification links and MFA codes are read from the mails the api sends. */
export const MAILPIT_URL = (env('MAILPIT_URL') ?? 'http://localhost:8025').replace(/\/+$/, '');
/** The feed's URL, derived from BASE_URL. */
export const WS_URL = `${BASE_URL.replace(/^http/, 'ws')}/ws`;
/** Users are `<USER_PREFIX>-<i>@load.brokerx.test`: made on the first run, logged in on the next ones. */
export const USER_PREFIX = env('USER_PREFIX') ?? 'k6';
export const USER_PASSWORD = env('USER_PASSWORD') ?? 'load-test-password-1';
/** Where handleSummary writes `k6-<scenario>.json`. */
export const SUMMARY_DIR = (env('SUMMARY_DIR') ?? '.').replace(/\/+$/, '');
/** The api instances `lb` expects behind the load balancer (their X-Instance values). */
export const INSTANCES = (env('INSTANCES') ?? 'api-1,api-2,api-3')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s.length > 0);

export const usersFor = (scenario: ScenarioName): number =>
  Math.round(positive('USERS') ?? DEFAULT_USERS[scenario]);

export function overrides(): Overrides {
  const rate = positive('RATE');
  const vus = positive('VUS');
  const iterations = positive('ITERATIONS');
  return {
    duration: env('DURATION'),
    rate,
    vus: vus === undefined ? undefined : Math.round(vus),
    iterations: iterations === undefined ? undefined : Math.round(iterations),
  };
}

/** A scenario's profile with DURATION / RATE / VUS / ITERATIONS applied. */
export const profileFor = (scenario: ScenarioName): Profile =>
  applyOverrides(PROFILES[scenario], overrides());
