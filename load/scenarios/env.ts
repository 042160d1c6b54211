/**
 * The Node generator's settings: the same variables the k6 scripts read (load/k6/lib/env.ts), parsed once
 * by load/run.ts.
 */
import { DEFAULT_USERS, seconds, type Overrides, type ScenarioName } from '../k6/lib/profiles.js';
import type { Endpoints } from '../client.js';

export interface LoadEnv {
  endpoints: Endpoints;
  /** Sessions made before the run (USERS, else the scenario's default). */
  users: number;
  overrides: Overrides;
  /** X-Instance values `lb` expects. */
  instances: string[];
  userPrefix: string;
  userPassword: string;
  /** Where the JSON summary goes (node-<scenario>.json). */
  summaryDir: string;
}

function positive(env: Record<string, string | undefined>, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');

export function loadEnv(scenario: ScenarioName, env: Record<string, string | undefined>): LoadEnv {
  const duration = env.DURATION || undefined;
  if (duration !== undefined) seconds(duration); // fail early on a bad duration
  const vus = positive(env, 'VUS');
  const iterations = positive(env, 'ITERATIONS');
  return {
    endpoints: {
      api: trimSlash(env.BASE_URL || 'http://localhost:3000'),
      mailpit: trimSlash(env.MAILPIT_URL || 'http://localhost:8025'),
    },
    users: Math.round(positive(env, 'USERS') ?? DEFAULT_USERS[scenario]),
    overrides: {
      duration,
      rate: positive(env, 'RATE'),
      vus: vus === undefined ? undefined : Math.round(vus),
      iterations: iterations === undefined ? undefined : Math.round(iterations),
    },
    instances: (env.INSTANCES || 'api-1,api-2,api-3')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
    userPrefix: env.USER_PREFIX || 'node',
    userPassword: env.USER_PASSWORD || 'load-test-password-1',
    summaryDir: env.SUMMARY_DIR || 'load/results',
  };
}
