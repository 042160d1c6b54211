/**
 * Static checks of the container and ops files: no Docker engine runs on the development machines, so
 * docker-compose.yml, the Dockerfile, nginx, Prometheus, Grafana and Kong configs are validated here
 * against the code they must mirror (lib/config.ts, scripts/start.ts, temporal/, the metric names).
 * With promtool available (scripts/install-test-binaries.ts installs it) the Prometheus configs, the alert
 * rules, their unit tests and every dashboard query are checked by promtool too; with nginx on PATH the
 * local load-balancer config is checked by `nginx -t`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, normalize, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { forwardedAddress } from '../api/auth/client-address.js';
import { configSchema } from '../lib/config.js';
import { processRegistry } from '../lib/metrics-server.js';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes.js';
import { TOOLS } from '../devstack/tools.js';
import {
  MACHINE_SERVICES,
  NOT_LOCAL,
  bindsOf,
  dependsOn,
  envOf,
  loadCompose,
  portsOf,
} from '../devstack/compose.js';
import { planCluster, type Bins, type ClusterPlan, type Launch } from '../devstack/cluster.js';
import { APP_ENTRIES, appGraph, compiledPath, nodeCommand } from '../devstack/build.js';
import { APP_STOP_GRACE_MS } from '../devstack/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
import { testBinary } from './binaries.js';
import { DASHBOARDS, dashboardDir, dashboardExprs, dashboards, metricNames, panelsOf } from './dashboards.js';

const read = (path: string) => readFileSync(join(root, path), 'utf8');
const yamlFile = <T>(path: string) => parse(read(path), { merge: true }) as T;

const compose = loadCompose();
const services = compose.services;
const builtServices = Object.entries(services).filter(([, s]) => s.build !== undefined);
/** The source file a built service runs: `node --enable-source-maps dist/api/main.js` -> `api/main.ts`. */
const entryOf = (s: (typeof services)[string]): string | undefined =>
  APP_ENTRIES.find((e) => (s.command as string[] | undefined)?.at(-1) === compiledPath(e));

const configKeys = new Set(Object.keys(configSchema.shape));
const defaults = configSchema.parse({});
const urlPort = (url: string) => Number(new URL(url).port);

/** `LOCAL_PORTS` of scripts/start.ts, read from its source (importing it would start the stack). */
function localPorts(): Record<string, number> {
  const block = /LOCAL_PORTS = \{([\s\S]*?)\} as const/.exec(read('scripts/start.ts'))?.[1];
  if (!block) throw new Error('LOCAL_PORTS not found in scripts/start.ts');
  return Object.fromEntries([...block.matchAll(/(\w+): (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}
const LOCAL = localPorts();

// ---- npm run start:cluster: the plan devstack/cluster.ts derives from the compose file -------------

type ProcessLaunch = Extract<Launch, { kind: 'process' }>;
const BINS: Bins = {
  'temporal-server': '/bin/temporal-server',
  'temporal-sql-tool': '/bin/temporal-sql-tool',
  'temporal-ui-server': '/bin/temporal-ui-server',
  mailpit: '/bin/mailpit',
  nginx: '/bin/nginx',
  prometheus: '/bin/prometheus',
  alertmanager: '/bin/alertmanager',
};
async function clusterPlan(
  opts: { prefix?: string; offset?: number } = {},
): Promise<{ plan: ClusterPlan; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'brokerx-plan-'));
  const plan = await planCluster({
    bins: BINS,
    runDir: dir,
    dataDir: join(dir, 'data'),
    prefix: opts.prefix,
    ports: { offset: opts.offset ?? 0 },
  });
  return { plan, dir };
}
function writePlanFiles(dir: string, launch: ProcessLaunch): void {
  for (const [file, text] of Object.entries(launch.files ?? {})) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
}

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  /** Stages in order: name and instructions (continuation lines joined, comments dropped). */
  const stages = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trimStart().startsWith('#'))
    .reduce<{ name: string; lines: string[] }[]>((acc, line) => {
      const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
      if (from) acc.push({ name: from[1] ?? String(acc.length), lines: [] });
      else acc.at(-1)?.lines.push(line.trim());
      return acc;
    }, []);
  const final = stages.at(-1)!;
  const stage = (name: string) => stages.find((st) => st.name === name)!;
  /** COPY [--from=stage] src... dest of the final stage. */
  const finalCopies = final.lines
    .filter((l) => /^COPY\s/.test(l))
    .map((l) => {
      const words = l.split(/\s+/).slice(1);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
    });

  it('builds from node:20 bookworm-slim pinned to an exact version, in several stages', () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(?:--platform=\S+\s+)?(\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) expect(image).toMatch(/^node:20\.\d+\.\d+-bookworm-slim$/);
  });

  it('installs with npm ci and runs as a non-root user', () => {
    expect(dockerfile).toMatch(/^RUN .*npm ci/m);
    const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    expect(users.at(-1)).toBeDefined();
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
  });

  it('starts node directly: CMD is the api-1 command of compose, in exec form', () => {
    const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
    expect(cmd).toBeDefined();
    expect(JSON.parse(cmd!)).toEqual(services['api-1']!.command);
    expect(dockerfile).not.toMatch(/^ENTRYPOINT/m);
  });

  it('puts only package.json, production node_modules and the compiled dist/ into the final stage', () => {
    expect(finalCopies).toEqual([
      { from: undefined, sources: ['package.json'], dest: './' },
      { from: 'deps', sources: ['/app/node_modules'], dest: './node_modules' },
      { from: 'build', sources: ['/app/dist'], dest: './dist' },
    ]);
    expect(final.lines.filter((l) => /^(RUN|ADD)\s/.test(l))).toEqual([]);
    expect(stage('deps').lines).toContainEqual(expect.stringMatching(/^RUN .*npm ci --omit=dev$/));
    expect(stage('build').lines).toContainEqual('RUN npm run build');
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.build).toBe('tsx scripts/build.ts');
    expect(/^WORKDIR\s+(\S+)/m.exec(final.lines.join('\n'))?.[1]).toBe('/app');
  });

  it('has as production dependencies exactly the packages the compiled tree imports', async () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const { files, packages } = await appGraph();
    expect(Object.keys(pkg.dependencies).sort()).toEqual(packages);
    // What runs is the app's code only: no harness, tools, page sources or tests.
    const outside = files.filter((f) => /^(test|load|scripts|devstack|web|docs|ops)\/|\.test\.ts$/.test(f));
    expect(outside).toEqual([]);
    for (const entry of APP_ENTRIES) expect(files).toContain(entry);
  });

  it('keeps local state and secrets out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['node_modules', '.git', '.data', '.env']) expect(ignored).toContain(entry);
  });
});

describe('docker-compose.yml', () => {
  it('pins every image to an exact tag or digest', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, `${name} has no image`).toBeTruthy();
      const image = s.image!;
      const tag = image.includes('@sha256:')
        ? 'digest'
        : image.slice(image.lastIndexOf('/') + 1).split(':')[1];
      expect(tag, `${name}: ${image} has no tag`).toBeTruthy();
      expect(tag, `${name}: ${image}`).not.toBe('latest');
      expect(tag, `${name}: ${image} is not an exact version`).toMatch(/^(digest|v?\d+(\.\d+)+[\w.-]*)$/);
    }
  });

  it('builds the api and the workers from the Dockerfile and starts node directly on a compiled entry', () => {
    expect(builtServices.map(([n]) => n).sort()).toEqual(
      [
        'api-1',
        'api-2',
        'api-3',
        'matching-0',
        'matching-1',
        'matching-standby',
        'migrate',
        'worker-outbox',
        'worker-outbox-2',
        'worker-trading',
        'worker-trading-2',
      ].sort(),
    );
    for (const [name, s] of builtServices) {
      const build = typeof s.build === 'string' ? { context: s.build } : s.build!;
      expect(build.dockerfile ?? 'Dockerfile', name).toBe('Dockerfile');
      expect(normalize(build.context ?? '.'), name).toBe('.');
      expect(Array.isArray(s.command), name).toBe(true);
      const entry = entryOf(s);
      expect(entry, `${name}: ${JSON.stringify(s.command)} runs no entry of devstack/build.ts`).toBeDefined();
      expect(s.command, name).toEqual(nodeCommand(entry!));
      expect(existsSync(join(root, entry!)), entry).toBe(true);
      // Docker's init as PID 1 forwards the stop signal to node and reaps; no shell, npm or tsx between.
      expect((s as { init?: boolean }).init, name).toBe(true);
    }
    // Every process entry is run by some service (the workflows are bundled by the trading worker).
    const run = new Set(builtServices.map(([, s]) => entryOf(s)));
    expect(APP_ENTRIES.filter((e) => !run.has(e))).toEqual(['workflows/index.ts']);
  });

  it('gives the app services only keys of the config schema, with values loadConfig accepts', () => {
    for (const [name, s] of builtServices) {
      const env = envOf(s);
      const unknown = Object.keys(env).filter((k) => !configKeys.has(k));
      expect(unknown, `${name} sets keys that lib/config.ts does not know`).toEqual([]);
      const parsed = configSchema.safeParse(env);
      expect(parsed.success, `${name}: ${parsed.error?.message}`).toBe(true);
      // api/auth/keys.ts refuses the built-in development key when NODE_ENV=production.
      if (parsed.data?.NODE_ENV === 'production')
        expect(parsed.data.SIGNING_KEY_SECRET, name).not.toMatch(/^dev-only-/);
    }
  });

  it('gives each app process longer to stop than its own deadline (SHUTDOWN_TIMEOUT_MS), as `npm start` does', () => {
    for (const [name, s] of builtServices) {
      const grace = (s as { stop_grace_period?: string }).stop_grace_period;
      expect(grace, name).toBe(`${APP_STOP_GRACE_MS / 1000}s`);
      expect(configSchema.parse(envOf(s)).SHUTDOWN_TIMEOUT_MS, name).toBeLessThan(APP_STOP_GRACE_MS);
    }
  });

  it('agrees on MATCHING_SHARDS everywhere and covers every shard with an owner candidate', () => {
    const counts = new Set(
      builtServices.map(([, s]) => envOf(s).MATCHING_SHARDS ?? String(defaults.MATCHING_SHARDS)),
    );
    expect(counts.size).toBe(1);
    const shards = Number([...counts][0]);
    const matching = builtServices.filter(([, s]) => entryOf(s) === 'workers/matching/main.ts');
    expect(matching.length).toBeGreaterThanOrEqual(2);
    const covered = new Set<number>();
    for (const [name, s] of matching) {
      const spec = envOf(s).MATCHING_SHARD_IDS ?? '';
      const ids = spec.trim() ? spec.split(',').map(Number) : Array.from({ length: shards }, (_, i) => i);
      for (const id of ids) {
        expect(Number.isInteger(id) && id >= 0 && id < shards, `${name}: shard ${id} of ${shards}`).toBe(
          true,
        );
        covered.add(id);
      }
    }
    expect(covered.size).toBe(shards);
  });

  it('runs three api instances with distinct INSTANCE_IDs on the default PORT, behind nginx', () => {
    const apis = ['api-1', 'api-2', 'api-3'].map((n) => envOf(services[n]!));
    expect(apis.map((e) => e.INSTANCE_ID)).toEqual(['api-1', 'api-2', 'api-3']);
    for (const e of apis) expect(Number(e.PORT ?? defaults.PORT)).toBe(defaults.PORT);
    const upstream = read('ops/nginx/upstream-servers.compose.conf');
    for (const n of ['api-1', 'api-2', 'api-3'])
      expect(upstream).toMatch(new RegExp(`server ${n}:${defaults.PORT}\\b`));
    expect(Object.keys(dependsOn(services.nginx!)).sort()).toEqual(['api-1', 'api-2', 'api-3']);
  });

  it('publishes the ports of the config defaults and of `npm start`', () => {
    const published = (name: string) => portsOf(services[name]!).map((p) => p.host);
    expect(published('nginx')).toContain(defaults.PORT);
    expect(published('nginx')).toContain(LOCAL.api);
    expect(published('temporal')).toContain(Number(defaults.TEMPORAL_ADDRESS.split(':')[1]));
    expect(published('temporal')).toContain(LOCAL.temporal);
    expect(published('temporal-ui')).toContain(urlPort(defaults.TEMPORAL_UI_URL));
    expect(published('temporal-ui')).toContain(LOCAL.temporalUi);
    expect(published('mailpit')).toEqual(
      expect.arrayContaining([
        urlPort(defaults.SMTP_URL),
        urlPort(defaults.MAILPIT_URL),
        LOCAL.smtp,
        LOCAL.mailpit,
      ]),
    );
    expect(published('postgres')).toContain(urlPort(defaults.DATABASE_URL));
    expect(published('redis')).toContain(urlPort(defaults.REDIS_URL));
    // No two services publish the same host port.
    const all = Object.values(services).flatMap((s) => portsOf(s).map((p) => p.host));
    expect(new Set(all).size).toBe(all.length);
  });

  it('gives each worker the METRICS_PORT `npm start` gives it, and Temporal its metrics port', () => {
    const byEntry: Record<string, number> = {
      'workers/trading/main.ts': LOCAL.tradingMetrics!,
      'workers/matching/main.ts': LOCAL.matchingMetrics!,
      'workers/outbox/main.ts': LOCAL.outboxMetrics!,
    };
    for (const [name, s] of builtServices) {
      const entry = entryOf(s)!;
      if (byEntry[entry] !== undefined) expect(Number(envOf(s).METRICS_PORT), name).toBe(byEntry[entry]);
    }
    expect(envOf(services.temporal!).PROMETHEUS_ENDPOINT).toBe(`0.0.0.0:${LOCAL.temporalMetrics}`);
  });

  it('mounts temporal/dynamic-config.yaml as the Temporal dynamic config file', () => {
    const temporal = services.temporal!;
    const mount = bindsOf(temporal).find((b) => b.target === envOf(temporal).DYNAMIC_CONFIG_FILE_PATH);
    expect(mount?.source).toBe(normalize('temporal/dynamic-config.yaml'));
    const dynamic = yamlFile<Record<string, unknown>>('temporal/dynamic-config.yaml');
    for (const key of [
      'matching.numTaskqueueReadPartitions',
      'matching.numTaskqueueWritePartitions',
      'history.transferProcessorMaxPollRPS',
      'history.timerProcessorMaxPollRPS',
      'history.shardIOConcurrency',
      'history.transferProcessorUpdateAckInterval',
      'history.timerProcessorUpdateAckInterval',
      'history.visibilityProcessorUpdateAckInterval',
    ]) {
      expect(dynamic).toHaveProperty([key]);
    }
  });

  it('registers the TradingSaga search attributes of temporal/search-attributes.ts', () => {
    const pairs = envOf(services['temporal-setup']!).SEARCH_ATTRIBUTES!.split(/\s+/).filter(Boolean);
    expect(Object.fromEntries(pairs.map((p) => p.split('=') as [string, string]))).toEqual(SEARCH_ATTRIBUTES);
    expect(String(services['temporal-setup']!.entrypoint)).toContain('setup-namespace.sh');
    for (const [name, s] of builtServices) {
      if (name === 'migrate') continue;
      expect(dependsOn(s)['temporal-setup'], name).toBe('service_completed_successfully');
    }
  });

  it('has consistent depends_on: known services, health checks behind service_healthy, one-shots', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        const target = services[dep];
        expect(target, `${name} depends on unknown ${dep}`).toBeDefined();
        expect(['service_started', 'service_healthy', 'service_completed_successfully']).toContain(condition);
        if (condition === 'service_healthy')
          expect(target!.healthcheck?.test, `${dep} needs a healthcheck for ${name}`).toBeDefined();
        if (condition === 'service_completed_successfully')
          expect(target!.restart ?? 'no', `${dep} must be a one-shot`).toMatch(/^(no|on-failure(:\d+)?)$/);
        // A service without a profile must not wait for one that only runs under a profile.
        if (!s.profiles?.length) expect(target!.profiles ?? [], `${name} -> ${dep}`).toEqual([]);
      }
    }
  });

  it('mounts files that exist (load/k6 is written separately)', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const { source } of bindsOf(s)) {
        if (source.startsWith(normalize('load/k6'))) continue;
        expect(existsSync(join(root, source)), `${name}: ${source}`).toBe(true);
      }
    }
  });

  it('keeps Kong under the gateway profile and k6 under the load profile', () => {
    expect(services.kong!.profiles).toEqual(['gateway']);
    expect(services.k6!.profiles).toEqual(['load']);
    expect(services.k6!.image).toMatch(/^grafana\/k6:/);
    expect(envOf(services.k6!)).toMatchObject({
      BASE_URL: `http://nginx:${defaults.PORT}`,
      MAILPIT_URL: expect.stringContaining(':8025') as string,
    });
    expect(bindsOf(services.k6!).map((b) => `${b.source}:${b.target}`)).toContain(
      `${normalize('load/k6')}:/scripts`,
    );
  });
});

describe('npm run start:cluster runs what docker-compose.yml describes (devstack/cluster.ts)', () => {
  it("runs every service locally, except the machine's Postgres and Redis and the NOT_LOCAL list", async () => {
    const { plan, dir } = await clusterPlan();
    rmSync(dir, { recursive: true, force: true });
    for (const name of Object.keys(NOT_LOCAL))
      expect(services[name], `NOT_LOCAL names ${name}`).toBeDefined();
    const planned = plan.services.map((s) => s.name);
    expect([...planned, ...MACHINE_SERVICES, ...Object.keys(NOT_LOCAL)].sort()).toEqual(
      Object.keys(services).sort(),
    );
    expect(planned).toEqual(
      expect.arrayContaining([
        'temporal',
        'temporal-ui',
        'nginx',
        'prometheus',
        'alertmanager',
        'mailpit',
        'api-1',
        'api-2',
        'api-3',
        'worker-trading',
        'worker-trading-2',
        'matching-0',
        'matching-1',
        'matching-standby',
        'worker-outbox',
        'worker-outbox-2',
      ]),
    );
    // Temporal's own server: never the CLI's dev server.
    for (const s of plan.services)
      if (s.launch.kind === 'process') expect(s.launch.args.join(' '), s.name).not.toContain('start-dev');
  });

  it('gives each process exactly the variables compose gives it, changed only where they name a host, port, mount or database', async () => {
    for (const prefix of ['', 'ctest_']) {
      const { plan, dir } = await clusterPlan({ prefix });
      rmSync(dir, { recursive: true, force: true });
      for (const s of plan.services) {
        const composeEnv = envOf(services[s.name]!);
        const env = s.launch.kind === 'process' ? { ...s.launch.env } : undefined;
        if (!env) continue;
        if (prefix && services[s.name]!.build) {
          expect(env.REDIS_PREFIX, s.name).toBe(`${prefix}brokerx:`);
          delete env.REDIS_PREFIX;
          // Its Postgres connections are named by the prefix, so a fault test ends only its own.
          expect(env.DATABASE_APPLICATION_PREFIX, s.name).toBe(prefix);
          delete env.DATABASE_APPLICATION_PREFIX;
        }
        expect(Object.keys(env).sort(), s.name).toEqual(Object.keys(composeEnv).sort());
        for (const [key, value] of Object.entries(composeEnv)) {
          const local =
            /(^|[/@])([a-z][\w-]*):\d+|0\.0\.0\.0|localhost:\d+|^\d+$|^\//.test(value) ||
            (/(SEEDS|HOST|ADDRESS)$/.test(key) && services[value] !== undefined);
          const database = ['DATABASE_URL', 'REDIS_URL', 'DBNAME', 'VISIBILITY_DBNAME'].includes(key);
          if (!local && !database) expect(env[key], `${s.name} ${key}`).toBe(value);
          else
            expect(env[key], `${s.name} ${key}`).not.toMatch(
              /\b(postgres|redis|temporal|mailpit|nginx|api-\d):\d/,
            );
        }
        if (composeEnv.DBNAME) expect(env.DBNAME).toBe(prefix + composeEnv.DBNAME);
        if (composeEnv.DATABASE_URL)
          expect(new URL(env.DATABASE_URL!).pathname).toBe(
            `/${prefix}${new URL(composeEnv.DATABASE_URL).pathname.slice(1)}`,
          );
      }
    }
  });

  it("runs each built service with compose's command line, in the local copy of the image's /app", async () => {
    const { plan, dir } = await clusterPlan();
    rmSync(dir, { recursive: true, force: true });
    for (const [name, s] of builtServices) {
      const launch = plan.services.find((p) => p.name === name)!.launch as ProcessLaunch;
      expect([basename(launch.cmd), ...launch.args], name).toEqual(s.command);
      expect(launch.cmd, name).toBe(process.execPath);
      expect(launch.cwd, name).toBe(plan.appDir);
    }
  });

  it('keeps published ports (plus the offset) and gives no two processes the same port', async () => {
    for (const offset of [0, 10_000]) {
      const { plan, dir } = await clusterPlan({ offset });
      rmSync(dir, { recursive: true, force: true });
      const all = plan.services.flatMap((s) => Object.values(s.ports));
      expect(new Set(all).size).toBe(all.length);
      for (const s of plan.services)
        for (const p of portsOf(services[s.name]!))
          expect(plan.port(s.name, p.container), s.name).toBe(p.host + offset);
    }
  });

  it('puts the three api instances behind nginx and scrapes every process on its metrics port', async () => {
    const { plan, dir } = await clusterPlan();
    rmSync(dir, { recursive: true, force: true });
    const nginx = plan.services.find((s) => s.name === 'nginx')!.launch as ProcessLaunch;
    const upstream = nginx.files![join('nginx', 'upstream-servers.conf')]!;
    const servers = [...upstream.matchAll(/^server (\S+)/gm)].map((m) => m[1]);
    expect(servers).toEqual(
      ['api-1', 'api-2', 'api-3'].map((n) => `127.0.0.1:${plan.port(n, defaults.PORT)}`),
    );
    const prometheus = plan.services.find((s) => s.name === 'prometheus')!.launch as ProcessLaunch;
    const config = parse(prometheus.files![join('prometheus', 'prometheus.yml')]!) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    const targets = new Set(config.scrape_configs.flatMap((j) => j.static_configs.flatMap((c) => c.targets)));
    for (const s of plan.services) {
      if (s.launch.kind !== 'process' || !services[s.name]!.build) continue;
      const env = s.launch.env;
      // The api's metrics: on API_METRICS_PORT once it has one of its own, else on PORT.
      const metrics = [
        env.API_METRICS_PORT ?? (env.METRICS_PORT ? undefined : env.PORT),
        env.METRICS_PORT,
        env.SDK_METRICS_PORT,
      ];
      for (const port of metrics.filter((p) => p && p !== '0'))
        expect(targets, `${s.name} :${port}`).toContain(`127.0.0.1:${port}`);
    }
    expect(targets).toContain(`127.0.0.1:${plan.port('temporal', LOCAL.temporalMetrics!)}`);
  });

  it("sends Prometheus' alerts to the local Alertmanager, which mails them through the local Mailpit", async () => {
    const { plan, dir } = await clusterPlan();
    rmSync(dir, { recursive: true, force: true });
    const launch = (name: string) => plan.services.find((s) => s.name === name)!.launch as ProcessLaunch;
    const prometheus = parse(launch('prometheus').files![join('prometheus', 'prometheus.yml')]!) as {
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    };
    expect(
      prometheus.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((c) => c.targets)),
    ).toEqual([`127.0.0.1:${plan.port('alertmanager', 9093)}`]);
    const am = launch('alertmanager');
    const config = parse(am.files![join('alertmanager', 'alertmanager.yml')]!) as {
      global: { smtp_smarthost: string };
    };
    expect(config.global.smtp_smarthost).toBe(`127.0.0.1:${plan.port('mailpit', 1025)}`);
    expect(am.args).toEqual(
      expect.arrayContaining([
        `--config.file=${join(dir, 'alertmanager', 'alertmanager.yml')}`,
        `--web.listen-address=127.0.0.1:${plan.port('alertmanager', 9093)}`,
        '--cluster.listen-address=',
        `--storage.path=${join(dir, 'data', 'alertmanager-data')}`,
      ]),
    );
  });

  const amtool = testBinary('amtool');
  it.skipIf(amtool.skip)(
    `derives an Alertmanager config that passes amtool check-config${amtool.note}`,
    async () => {
      const { plan, dir } = await clusterPlan();
      try {
        const launch = plan.services.find((s) => s.name === 'alertmanager')!.launch as ProcessLaunch;
        writePlanFiles(dir, launch);
        const r = spawnSync(amtool.path(), ['check-config', join(dir, 'alertmanager', 'alertmanager.yml')], {
          encoding: 'utf8',
        });
        expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
        expect(r.status).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('reads in ops/temporal/server.yaml every variable compose sets on the temporal service', () => {
    const template = read('ops/temporal/server.yaml');
    for (const key of Object.keys(envOf(services.temporal!))) expect(template, key).toContain(`env "${key}"`);
    const ui = read('ops/temporal/ui/docker.yaml');
    for (const key of Object.keys(envOf(services['temporal-ui']!))) expect(ui, key).toContain(`env "${key}"`);
    // The schema one-shot creates the databases the server uses.
    const schema = envOf(services['temporal-schema']!);
    const server = envOf(services.temporal!);
    for (const key of ['DBNAME', 'VISIBILITY_DBNAME', 'POSTGRES_SEEDS', 'DB_PORT', 'POSTGRES_USER'])
      expect(schema[key], key).toBe(server[key]);
    expect(read('ops/temporal/setup-schema.sh')).toMatch(/DBNAME/);
  });

  it("pins compose's Temporal images to the versions built here", () => {
    const version = (tool: keyof typeof TOOLS) => TOOLS[tool].module.split('@v')[1];
    expect(services.temporal!.image).toBe(`temporalio/server:${version('temporal-server')}`);
    expect(services['temporal-schema']!.image).toBe(`temporalio/admin-tools:${version('temporal-sql-tool')}`);
    expect(services['temporal-setup']!.image).toBe(`temporalio/admin-tools:${version('temporal-server')}`);
    expect(services['temporal-ui']!.image).toBe(`temporalio/ui:${version('temporal-ui-server')}`);
    expect(services.mailpit!.image).toBe(`axllent/mailpit:v${version('mailpit')}`);
  });
});

describe('nginx', () => {
  const conf = read('ops/nginx/nginx.conf');
  const locations = read('ops/nginx/api-locations.conf');

  it('balances with least_conn, upgrades /ws and /cable with a long read timeout and names the upstream', () => {
    expect(conf).toMatch(/upstream brokerx_api \{[^}]*least_conn;/);
    expect(conf).toMatch(/include upstream-servers\.conf;/);
    expect(conf).toMatch(/map \$http_upgrade \$connection_upgrade/);
    expect(conf).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(conf).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    const [, paths = '', ws = ''] = /location ~ \^\/\(([a-z|]+)\)\$ \{([^}]*)\}/.exec(locations) ?? [];
    expect(paths.split('|').sort()).toEqual(['cable', 'ws']);
    expect(Number(/proxy_read_timeout (\d+)s;/.exec(ws)?.[1])).toBeGreaterThanOrEqual(3600);
    // The feeds' sockets on an upstream of their own, over the same servers: they never weigh on how
    // least_conn spreads the requests.
    expect(ws).toContain('proxy_pass http://brokerx_feed;');
    expect(conf).toMatch(/upstream brokerx_feed \{[^}]*least_conn;[^}]*include upstream-servers\.conf;/);
    expect(locations).toMatch(/location \/ \{\s*proxy_pass http:\/\/brokerx_api;/);
    expect(conf).toContain('add_header X-Upstream-Server $upstream_addr always;');
    expect(conf).toMatch(new RegExp(`listen ${defaults.PORT};\\s*include api-locations\\.conf;`));
  });

  it("drops idle upstream connections before the api does (its Node server's keep-alive timeout)", () => {
    const api = /upstream brokerx_api \{([^}]*)\}/.exec(conf)?.[1] ?? '';
    expect(api).toMatch(/keepalive \d+;/);
    const idle = Number(/keepalive_timeout (\d+)s;/.exec(api)?.[1]);
    // api/main.ts serves with node:http's defaults (@hono/node-server).
    expect(idle * 1000).toBeLessThan(createServer().keepAliveTimeout);
  });

  it('mounts the compose upstream file and the locations where nginx.conf includes them', () => {
    const binds = bindsOf(services.nginx!);
    const main = binds.find((b) => b.source === normalize('ops/nginx/nginx.conf'))!;
    const servers = binds.find((b) => b.source === normalize('ops/nginx/upstream-servers.compose.conf'))!;
    const paths = binds.find((b) => b.source === normalize('ops/nginx/api-locations.conf'))!;
    expect(main.target).toBe('/etc/nginx/nginx.conf');
    expect(servers.target).toBe(posix.join(posix.dirname(main.target), 'upstream-servers.conf'));
    expect(paths.target).toBe(posix.join(posix.dirname(main.target), 'api-locations.conf'));
  });

  const nginx = testBinary('nginx');
  it.skipIf(nginx.skip)(
    `accepts the config npm run start:cluster derives (nginx -t)${nginx.note}`,
    async () => {
      const { plan, dir } = await clusterPlan();
      try {
        const launch = plan.services.find((s) => s.name === 'nginx')!.launch as ProcessLaunch;
        writePlanFiles(dir, launch);
        mkdirSync(join(dir, 'nginx', 'logs'), { recursive: true });
        const r = spawnSync(nginx.path(), ['-t', ...launch.args], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

// ---- metric names: what dashboards and alerts query must be what the code registers -----------------

/** The metrics BrokerX's code registers: [prom-client type, name]. */
function registeredMetrics(): [string, string][] {
  const files = [
    'api/metrics.ts',
    'workers/worker-metrics.ts',
    'workers/matching/metrics.ts',
    'workers/outbox/relay.ts',
    'workers/outbox/worker.ts',
    'lib/io-counts.ts',
  ];
  return files.flatMap((file) =>
    [...read(file).matchAll(/new (Counter|Gauge|Histogram|Summary)\(\{\s*name: '([a-z_:][a-z0-9_:]*)'/g)].map(
      (m): [string, string] => [m[1]!, m[2]!],
    ),
  );
}

async function knownMetrics(): Promise<Set<string>> {
  const known = new Set<string>(['up']);
  const addHistogram = (name: string) =>
    ['', '_bucket', '_sum', '_count'].forEach((s) => known.add(name + s));
  for (const [type, name] of registeredMetrics()) {
    if (type === 'Histogram' || type === 'Summary') addHistogram(name);
    else known.add(name);
  }
  // What every process's registry carries besides its own metrics (Node's defaults, the I/O counts).
  for (const m of await processRegistry('any', 'any').getMetricsAsJSON()) {
    // prom-client types `type` as a numeric enum; at run time it is the string Prometheus uses.
    if (String(m.type) === 'histogram') addHistogram(m.name);
    else known.add(m.name);
  }
  // nginx-prometheus-exporter (stub_status), compose only.
  for (const n of [
    'up',
    'connections_active',
    'connections_accepted',
    'connections_handled',
    'connections_reading',
    'connections_waiting',
    'connections_writing',
    'http_requests_total',
  ]) {
    known.add(`nginx_${n}`);
  }
  return known;
}

interface AlertRules {
  groups: {
    name: string;
    rules: { alert?: string; record?: string; expr: string }[];
  }[];
}

const alerts = yamlFile<AlertRules>('ops/prometheus/alerts.yml');

describe('Grafana', () => {
  it('has the five dashboards, each with unique uid, and every panel queries something', () => {
    expect(Object.keys(dashboards).sort()).toEqual([...DASHBOARDS].sort());
    expect(new Set(Object.values(dashboards).map((d) => d.uid)).size).toBe(DASHBOARDS.length);
    for (const [file, d] of Object.entries(dashboards)) {
      const panels = panelsOf(d);
      expect(panels.length, file).toBeGreaterThan(0);
      for (const p of panels) {
        expect(p.targets?.length, `${file}: ${p.title}`).toBeGreaterThan(0);
        for (const t of p.targets ?? []) expect(t.expr?.trim(), `${file}: ${p.title}`).toBeTruthy();
      }
    }
  });

  it('uses the provisioned datasource and the mounted dashboards folder', () => {
    const ds = yamlFile<{ datasources: { uid: string; url: string }[] }>(
      'ops/grafana/provisioning/datasources/prometheus.yml',
    );
    const uid = ds.datasources[0]!.uid;
    expect(ds.datasources[0]!.url).toBe('http://prometheus:9090');
    for (const d of Object.values(dashboards))
      for (const p of panelsOf(d)) expect(p.datasource?.uid, `${d.title}: ${p.title}`).toBe(uid);
    const provider = yamlFile<{ providers: { options: { path: string } }[] }>(
      'ops/grafana/provisioning/dashboards/brokerx.yml',
    ).providers[0]!;
    const binds = bindsOf(services.grafana!);
    expect(binds).toContainEqual({ source: normalize(dashboardDir), target: provider.options.path });
    expect(binds).toContainEqual({
      source: normalize('ops/grafana/provisioning'),
      target: '/etc/grafana/provisioning',
    });
  });

  it('queries and alerts only on metrics the code registers', async () => {
    const known = await knownMetrics();
    const exprs = [...dashboardExprs(), ...alerts.groups.flatMap((g) => g.rules.map((r) => r.expr))];
    const unknown = [...new Set(exprs.flatMap(metricNames))].filter((n) => !known.has(n));
    expect(unknown).toEqual([]);
    // The extractor itself finds what it should.
    expect(
      metricNames(
        'sum by (le) (rate(order_ack_seconds_bucket{outcome="working"}[5m])) / ignoring (x) group_left sum(up)',
      ),
    ).toEqual(['order_ack_seconds_bucket', 'up']);
  });
});

describe('Prometheus', () => {
  interface PromConfig {
    rule_files: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  }
  const targets = (file: string) =>
    Object.fromEntries(
      yamlFile<PromConfig>(file).scrape_configs.map((j) => [
        j.job_name,
        j.static_configs.flatMap((s) => s.targets),
      ]),
    );

  it('scrapes every compose process on its metrics port', () => {
    const t = targets('ops/prometheus/prometheus.yml');
    expect(t.api).toEqual(['api-1', 'api-2', 'api-3'].map((n) => `${n}:${defaults.API_METRICS_PORT}`));
    expect(t['worker-trading']).toEqual(
      ['worker-trading', 'worker-trading-2'].map((n) => `${n}:${LOCAL.tradingMetrics}`),
    );
    expect(t['worker-matching']).toEqual(
      ['matching-0', 'matching-1', 'matching-standby'].map((n) => `${n}:${LOCAL.matchingMetrics}`),
    );
    expect(t['worker-outbox']).toEqual(
      ['worker-outbox', 'worker-outbox-2'].map((n) => `${n}:${LOCAL.outboxMetrics}`),
    );
    expect(t.temporal).toEqual([`temporal:${LOCAL.temporalMetrics}`]);
    for (const target of Object.values(t).flat())
      expect(services[target.split(':')[0]!], target).toBeDefined();
  });

  it('scrapes the ports `npm start` uses in the local variant', () => {
    const local = targets('ops/prometheus/prometheus.local.yml');
    const at = (port: number | undefined) => [`127.0.0.1:${port}`];
    expect(local['worker-trading']).toEqual(at(LOCAL.tradingMetrics));
    expect(local['worker-matching']).toEqual(at(LOCAL.matchingMetrics));
    expect(local['worker-outbox']).toEqual(at(LOCAL.outboxMetrics));
    expect(local.temporal).toEqual(at(LOCAL.temporalMetrics));
    expect(local.api).toEqual(at(LOCAL.apiMetrics));
  });

  it('scrapes every worker a runbook starts by hand, one `npm start` does not run outside WorkerDown', () => {
    const local = targets('ops/prometheus/prometheus.local.yml');
    // `METRICS_PORT=9467 INSTANCE_ID=matching-2 npm run start:worker:matching` (or tsx workers/<w>/main.ts)
    const started = readdirSync(join(root, 'docs/runbooks'))
      .filter((f) => f.endsWith('.md'))
      .flatMap((f) =>
        [
          ...read(`docs/runbooks/${f}`).matchAll(
            /\bMETRICS_PORT=(\d+)\b[^\n]*?(?:start:worker:|workers\/)(\w+)/g,
          ),
        ].map((m) => ({ where: `${f}: ${m[0]}`, port: Number(m[1]), worker: m[2]! })),
      );
    expect(started.map((s) => s.worker)).toContain('matching'); // matching-failover.md's standby
    const workerDown = alerts.groups.flatMap((g) => g.rules).find((r) => r.alert === 'WorkerDown')!.expr;
    const covered = new RegExp(`^(?:${/job=~"([^"]+)"/.exec(workerDown)![1]})$`);
    for (const { where, port, worker } of started) {
      // That worker's jobs: worker-<w>, and <w>-standby for one that may not run.
      const jobs = Object.keys(local).filter((j) => j === `worker-${worker}` || j === `${worker}-standby`);
      const job = jobs.find((j) => local[j]!.includes(`127.0.0.1:${port}`));
      expect(job, `${where}: no job of worker-${worker} scrapes :${port}`).toBeDefined();
      // A process `npm start` does not run must not be WorkerDown while it does not run.
      const npmStart = Object.values(LOCAL).includes(port);
      expect(covered.test(job!), `${where}: job ${job}, WorkerDown's ${covered}`).toBe(npmStart);
    }
  });

  // Every rule's runbook_url: test/alertmanager.test.ts.
  it('has alert rules for stuck sagas, compensation failures, outbox lag and 5xx', () => {
    const rules = alerts.groups.flatMap((g) => g.rules);
    const byName = Object.fromEntries(rules.filter((r) => r.alert).map((r) => [r.alert!, r]));
    expect(byName.SagaNeedsAttention?.expr).toContain('saga_needs_attention');
    expect(byName.OutboxDeadLetters?.expr).toContain('outbox_dead_rows');
    expect(byName.SagaCompensationsFailing?.expr).toContain('saga_compensations_total');
    expect(byName.OutboxLagHigh?.expr).toContain('outbox_lag_seconds');
    expect(byName.HttpServerErrorRate?.expr).toMatch(/http_requests_total\{status=~"5\.\."/);
  });

  const promtool = testBinary('promtool');
  describe.skipIf(promtool.skip)(`promtool${promtool.note}`, () => {
    const run = (...args: string[]) => {
      const r = spawnSync(promtool.path(), args, {
        cwd: join(root, 'ops/prometheus'),
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
    };

    it.each(['prometheus.yml', 'prometheus.local.yml'])('check config %s', (file) => {
      const r = run('check', 'config', file);
      expect(r.ok, r.output).toBe(true);
    });

    it('check config of npm run start:cluster', async () => {
      const { plan, dir } = await clusterPlan();
      try {
        const launch = plan.services.find((s) => s.name === 'prometheus')!.launch as ProcessLaunch;
        writePlanFiles(dir, launch);
        const file = launch.args.find((a) => a.startsWith('--config.file='))!.slice('--config.file='.length);
        const r = run('check', 'config', file);
        expect(r.ok, r.output).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('check rules and the rule unit tests', () => {
      const rules = run('check', 'rules', 'alerts.yml');
      expect(rules.ok, rules.output).toBe(true);
      const tests = run('test', 'rules', 'alerts.test.yml');
      expect(tests.ok, tests.output).toBe(true);
    });

    it('parses every dashboard query', () => {
      const dir = mkdtempSync(join(tmpdir(), 'brokerx-dash-'));
      try {
        const exprs = dashboardExprs().map((e) =>
          e.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h').replaceAll('$__interval', '1m'),
        );
        const file = join(dir, 'dashboards.rules.yml');
        writeFileSync(
          file,
          stringify({
            groups: [
              {
                name: 'dashboards',
                rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })),
              },
            ],
          }),
        );
        const r = run('check', 'rules', file);
        expect(r.ok, r.output).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('Kong (profile gateway)', () => {
  interface KongPlugin {
    name: string;
    config?: Record<string, unknown>;
  }
  interface Kong {
    _format_version: string;
    services: {
      name: string;
      url: string;
      routes: { name: string; paths: string[]; plugins?: KongPlugin[] }[];
    }[];
    plugins: KongPlugin[];
    consumers: { username: string; keyauth_credentials: { key: string }[] }[];
  }
  const kong = yamlFile<Kong>('ops/kong/kong.yml');
  /** nginx's port for Kong, where every Kong service goes. */
  const kongPort = Number(new URL(kong.services[0]!.url).port);

  it('is a DB-less declarative config with API keys, CORS and rate limits in front of nginx', () => {
    expect(kong._format_version).toBe('3.0');
    expect(envOf(services.kong!)).toMatchObject({
      KONG_DATABASE: 'off',
      KONG_DECLARATIVE_CONFIG: '/kong/kong.yml',
    });
    for (const s of kong.services) expect(s.url).toBe(`http://nginx:${kongPort}`);
    // Only Kong, inside compose's network, reaches it: nginx trusts the address Kong names there.
    expect(portsOf(services.nginx!).map((p) => p.container)).not.toContain(kongPort);
    const routes = kong.services.flatMap((s) => s.routes);
    const plugins = (route: string) =>
      (routes.find((r) => r.name === route)?.plugins ?? []).map((p) => p.name);
    expect(plugins('api')).toEqual(expect.arrayContaining(['key-auth', 'rate-limiting']));
    expect(plugins('auth')).toEqual(expect.arrayContaining(['key-auth', 'rate-limiting']));
    expect(plugins('ws')).toContain('key-auth');
    expect(kong.plugins.map((p) => p.name)).toContain('cors');
    expect(kong.consumers.every((c) => c.keyauth_credentials.length > 0)).toBe(true);
  });

  const nginx = testBinary('nginx');
  it.skipIf(nginx.skip)(
    `through nginx, the api reads the client's address Kong appended on Kong's port, and the peer's on the public port, whatever X-Forwarded-For the client sent${nginx.note}`,
    async () => {
      // One api instance, answering with the X-Forwarded-For nginx gave it.
      const api = createServer((req, res) => res.end(req.headers['x-forwarded-for'] ?? ''));
      await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
      const dir = mkdtempSync(join(tmpdir(), 'brokerx-plan-'));
      let proc: ReturnType<typeof spawn> | undefined;
      try {
        // nginx as npm run start:cluster runs it (compose's config, listens on free local ports).
        const plan = await planCluster({
          bins: BINS,
          runDir: dir,
          dataDir: join(dir, 'data'),
          ports: 'free',
        });
        const launch = plan.services.find((s) => s.name === 'nginx')!.launch as ProcessLaunch;
        writePlanFiles(dir, launch);
        const apiPort = (api.address() as AddressInfo).port;
        writeFileSync(join(dir, 'nginx', 'upstream-servers.conf'), `server 127.0.0.1:${apiPort};\n`);
        mkdirSync(join(dir, 'nginx', 'logs'), { recursive: true });
        const started = spawn(nginx.path(), launch.args, { stdio: 'ignore' });
        proc = started;
        const hops = Number(envOf(services['api-1']!).TRUSTED_PROXY_HOPS);
        /** The client's address as the api reads it, for a request to nginx's `port` with this X-Forwarded-For. */
        const clientOf = async (port: number, xff: string): Promise<string | undefined> => {
          for (;;) {
            if (started.exitCode !== null) throw new Error(`nginx exited with ${started.exitCode}`);
            const sent = await fetch(`http://127.0.0.1:${port}/`, {
              headers: { 'x-forwarded-for': xff },
            }).then(
              (res) => res.text(),
              () => undefined, // not listening yet
            );
            if (sent !== undefined) return forwardedAddress(sent, hops);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        };
        // A client of the public port cannot choose its address: the api sees the peer, this machine.
        expect(await clientOf(plan.port('nginx', defaults.PORT), '203.0.113.9')).toBe('127.0.0.1');
        // Kong appends its client (here 198.51.100.7) to what the client sent: the api sees that client.
        expect(await clientOf(plan.port('nginx', kongPort), '203.0.113.9, 198.51.100.7')).toBe(
          '198.51.100.7',
        );
      } finally {
        proc?.kill();
        api.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('docs/metrics.md', () => {
  it('lists exactly the metrics the code registers', () => {
    const documented = [...read('docs/metrics.md').matchAll(/^\| `([a-z_:][a-z0-9_:]*)`/gm)].map(
      (m) => m[1]!,
    );
    expect(documented.sort()).toEqual(
      registeredMetrics()
        .map(([, name]) => name)
        .sort(),
    );
  });
});
