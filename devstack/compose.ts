/**
 * docker-compose.yml as data: the services, their environment, ports and mounts, read the way Compose
 * reads them (YAML merge keys, `${X:-default}` interpolation with an empty shell environment).
 * `npm run start:cluster` (devstack/cluster.ts) derives its processes from it and test/compose.test.ts
 * checks it statically.
 */
import { readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.yml');

type Env = Record<string, string | number | boolean | null> | string[] | undefined;
export interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Env;
  ports?: (string | number)[];
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  restart?: string;
  profiles?: string[];
}
export interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

export function loadCompose(file = COMPOSE_FILE): Compose {
  return parse(readFileSync(file, 'utf8'), { merge: true }) as Compose;
}

/**
 * Compose services that cannot run as local processes here, each with the reason. They stay checked
 * statically by test/compose.test.ts; every other service is run by `npm run start:cluster`.
 */
export const NOT_LOCAL: Record<string, string> = {
  kong: 'profile gateway; Kong is not packaged by Debian',
  grafana: 'not packaged by Debian',
  'nginx-exporter': 'not packaged by Debian; nginx stub_status stays reachable on its port',
  k6: 'profile load; AGPL-licensed, not built here (ADR 0009)',
};

/** Compose services the machine already runs: the cluster uses them through DATABASE_URL and REDIS_URL. */
export const MACHINE_SERVICES = ['postgres', 'redis'] as const;

/** Compose interpolation as it happens with an empty shell environment: `${X:-default}`, `$$`. */
export const interpolate = (v: string): string =>
  v.replace(/\$\$|\$\{(\w+)(?::?[-?]([^}]*))?\}/g, (m, _name, fallback: string | undefined) =>
    m === '$$' ? '$' : (fallback ?? ''),
  );

export function envOf(s: Service): Record<string, string> {
  const env = s.environment;
  if (!env) return {};
  const pairs = Array.isArray(env)
    ? env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const)
    : Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)] as const);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(v)]));
}

/** Published ports as { host, container } (formats "3000", "3000:3000", "127.0.0.1:3000:3000/tcp"). */
export function portsOf(s: Service): { host: number; container: number }[] {
  return (s.ports ?? []).map((p) => {
    const parts = String(p)
      .replace(/\/(tcp|udp)$/, '')
      .split(':');
    const container = Number(parts[parts.length - 1]);
    const host = parts.length >= 2 ? Number(parts[parts.length - 2]) : container;
    return { host, container };
  });
}

export function dependsOn(s: Service): Record<string, string> {
  const d = s.depends_on;
  if (!d) return {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v.condition ?? 'service_started']));
}

/** Bind mounts "./src:/target[:ro]" as { source, target }. */
export function bindsOf(s: Service): { source: string; target: string }[] {
  return (s.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([source]) => source !== undefined && (source.startsWith('./') || source.startsWith('../')))
    .map(([source, target]) => ({ source: normalize(source!), target: target! }));
}

/** Named volumes "name:/target" as { name, target }. */
export function namedVolumesOf(s: Service): { name: string; target: string }[] {
  return (s.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([source]) => source !== undefined && /^[\w-]+$/.test(source))
    .map(([name, target]) => ({ name: name!, target: target! }));
}

export const commandOf = (s: Service): string[] =>
  Array.isArray(s.command) ? s.command : s.command ? s.command.split(/\s+/) : [];
