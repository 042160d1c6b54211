/**
 * The production topology as local processes, derived from docker-compose.yml: every compose service
 * runs here with its command and environment, except the machine's own Postgres and Redis (used
 * through DATABASE_URL and REDIS_URL) and the services of NOT_LOCAL (devstack/compose.ts). Locally:
 *   - hostnames become 127.0.0.1 (`temporal:7233` -> `127.0.0.1:<its local port>`), 0.0.0.0 binds 127.0.0.1;
 *   - images become local binaries: temporalio/server -> temporal-server with ops/temporal/server.yaml,
 *     temporalio/ui -> temporal-ui-server, axllent/mailpit -> mailpit, nginx, prom/prometheus and
 *     prom/alertmanager -> the Debian packages, temporalio/admin-tools one-shots -> the sql tool and the
 *     Temporal client;
 *     built services run compose's own command line (`node --enable-source-maps dist/<entry>.js`) in a
 *     local copy of the image's /app (devstack/build.ts `prepareAppDir`), with this node binary;
 *   - ports: a published port is the host port (+ offset); a container port that several services use
 *     (api-1..3 on 3000, workers on their METRICS_PORT) stays with the first and moves up for the others;
 *   - bind mounts are the repository files, named volumes folders under the data directory; the config
 *     files that name other services (nginx's upstream, Prometheus' targets, Alertmanager's SMTP relay)
 *     are written to the run's folder with the local addresses;
 *   - with a prefix, databases and Redis keys get it (so tests run beside `npm run start:cluster`).
 * Start order follows depends_on; `restart: unless-stopped` services are restarted when they die.
 */
import { randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import postgres from 'postgres';
import { parse, stringify } from 'yaml';
import { prepareAppDir } from './build.js';
import { CLUSTER_DEBIAN_BINS, ensureDebianTool, type DebianBins } from './debian-tools.js';
import {
  APP_STOP_GRACE_MS,
  portOpen,
  startProcess,
  waitForPort,
  type Managed,
  type Output,
} from './processes.js';
import { CLUSTER_TOOLS, ensureTools } from './tools.js';
import {
  MACHINE_SERVICES,
  NOT_LOCAL,
  REPO_ROOT,
  bindsOf,
  commandOf,
  dependsOn,
  envOf,
  loadCompose,
  namedVolumesOf,
  portsOf,
  type Compose,
  type Service,
} from './compose.js';
import { registerNamespace, setupTemporalSchema, temporalServerArgs } from './temporal-server.js';

export type Bins = Record<
  | 'temporal-server'
  | 'temporal-sql-tool'
  | 'temporal-ui-server'
  | 'mailpit'
  | 'nginx'
  | 'prometheus'
  | 'alertmanager',
  string
>;

export interface ClusterOptions {
  /** `{ offset }`: compose's ports plus offset (default 0); 'free': every port a free one below 32768 (freeLowPort). */
  ports?: { offset: number } | 'free';
  /** Prefix of the databases (the app's and Temporal's two) and of the Redis keys; '' = compose's names. */
  prefix?: string;
  /** The machine's Postgres and Redis (the database name of the URL is replaced). */
  databaseUrl?: string;
  redisUrl?: string;
  toolsDir: string;
  /** Named volumes live here (default .data/cluster, or a temporary folder with a prefix). */
  dataDir?: string;
  output?: Output;
  log?: (line: string) => void;
  compose?: Compose;
  /** More environment for the application's own processes (the benchmark's `IO_COUNTS=on`). */
  appEnv?: Record<string, string>;
  /** The paths of nginx, Prometheus and Alertmanager the tests found; without it, installed (debianBins). */
  debianBins?: DebianBins;
}

/** How a service runs here: a supervised process, or a one-shot step. */
export type Launch =
  | {
      kind: 'process';
      cmd: string;
      args: string[];
      env: Record<string, string>;
      /** Working directory (default: the repository). */
      cwd?: string;
      files?: Record<string, string>;
    }
  | { kind: 'step'; describe: string; run: () => Promise<void> };

export interface PlannedService {
  name: string;
  launch: Launch;
  /** Container port -> local port. */
  ports: Record<number, number>;
  /** What "healthy" means here: an HTTP path on a port, or an open port. */
  health?: { port: number; path?: string };
  dependsOn: Record<string, string>;
  restart: boolean;
}

export interface ClusterPlan {
  services: PlannedService[];
  port(service: string, containerPort: number): number;
  databases: { app: string; temporal: string; visibility: string };
  redisPrefix: string;
  runDir: string;
  /** The local copy of the image's /app that the built services run in. */
  appDir: string;
  /** Folders of the named volumes. */
  volumeDirs: string[];
}

const LOCAL_HOST = '127.0.0.1';
/** What a container has that compose does not list; everything else a process gets comes from compose. */
const baseEnv = (): Record<string, string> =>
  Object.fromEntries(
    ['PATH', 'HOME', 'LANG', 'TMPDIR', 'TZ', 'GOCACHE'].flatMap((k) =>
      process.env[k] ? [[k, process.env[k]]] : [],
    ),
  );
/** Env keys that name a port to connect to, with the service behind it (the others named *PORT listen). */
const CONNECT_PORTS: Record<string, string> = { DB_PORT: 'postgres' };
/** Env keys whose value may be a bare hostname (POSTGRES_SEEDS: postgres). */
const HOST_KEY = /(SEEDS|HOST|ADDRESS)$/;
const isListenPortKey = (key: string) => /(^|_)PORT$/.test(key) && !(key in CONNECT_PORTS);
const isBuilt = (s: Service) => s.build !== undefined;
const imageName = (s: Service) => (s.image ?? '').replace(/[:@].*$/, '');
const IMAGES = [
  'temporalio/server',
  'temporalio/ui',
  'temporalio/admin-tools',
  'axllent/mailpit',
  'nginx',
  'prom/prometheus',
  'prom/alertmanager',
];

/** The compose services this machine runs, in compose order; throws on a service with no local equivalent. */
export function localServices(compose: Compose): [string, Service][] {
  const unknown = Object.entries(compose.services).filter(
    ([name, s]) =>
      !(name in NOT_LOCAL) &&
      !(MACHINE_SERVICES as readonly string[]).includes(name) &&
      !isBuilt(s) &&
      !IMAGES.includes(imageName(s)),
  );
  if (unknown.length)
    throw new Error(
      `docker-compose.yml: no local equivalent for ${unknown.map(([n, s]) => `${n} (${s.image})`).join(', ')}; ` +
        'teach devstack/cluster.ts to run it or add it to NOT_LOCAL in devstack/compose.ts',
    );
  return Object.entries(compose.services).filter(
    ([name]) => !(name in NOT_LOCAL) && !(MACHINE_SERVICES as readonly string[]).includes(name),
  );
}

/** Every port a local service listens on, as container ports: published, *PORT variables, 0.0.0.0:N, nginx `listen`. */
function listenPorts(name: string, s: Service): number[] {
  const ports = portsOf(s).map((p) => p.container);
  for (const [key, value] of Object.entries(envOf(s))) {
    if (isListenPortKey(key) && /^\d+$/.test(value) && Number(value) > 0) ports.push(Number(value));
    for (const m of value.matchAll(/\b0\.0\.0\.0:(\d+)\b/g)) ports.push(Number(m[1]));
  }
  for (const arg of commandOf(s))
    for (const m of arg.matchAll(/\b0\.0\.0\.0:(\d+)\b/g)) ports.push(Number(m[1]));
  if (imageName(s) === 'nginx')
    for (const b of bindsOf(s))
      for (const m of readFileSync(join(REPO_ROOT, b.source), 'utf8').matchAll(/^\s*listen (\d+);/gm))
        ports.push(Number(m[1]));
  if (imageName(s) === 'prom/prometheus' && !ports.length) ports.push(9090);
  void name;
  return [...new Set(ports)];
}

/**
 * A port nobody listens on, below Linux's ephemeral range (32768+). Temporal's server stores its
 * membership ports in a smallint column (cluster_membership.rpc_port): a port the OS hands out for
 * port 0 makes it exit with "out of range for type smallint". Below the range, outgoing connections
 * never take a planned port before its service binds it either.
 */
async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = randomInt(20_000, 32_000);
    if (await canListen(port)) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Local ports for every (service, container port). A published port keeps its host port; an internal
 * one its container port when no other service has it yet, else the next one up that nobody has.
 */
export async function planPorts(
  services: [string, Service][],
  mode: { offset: number } | 'free',
): Promise<Map<string, number>> {
  const plan = new Map<string, number>();
  const taken = new Set<number>();
  const claim = (key: string, port: number) => (plan.set(key, port), taken.add(port));
  if (mode === 'free') {
    for (const [name, s] of services)
      for (const p of listenPorts(name, s)) {
        let port = await freeLowPort();
        while (taken.has(port)) port = await freeLowPort();
        claim(`${name}:${p}`, port);
      }
    return plan;
  }
  const { offset } = mode;
  for (const [name, s] of services)
    for (const p of portsOf(s)) claim(`${name}:${p.container}`, p.host + offset);
  const later: [string, number][] = [];
  for (const [name, s] of services)
    for (const p of listenPorts(name, s)) {
      const key = `${name}:${p}`;
      if (plan.has(key)) continue;
      if (taken.has(p + offset)) later.push([key, p]);
      else claim(key, p + offset);
    }
  for (const [key, p] of later) {
    let port = p + offset + 1;
    while (taken.has(port)) port++;
    claim(key, port);
  }
  return plan;
}

/** Resolves compose's names (services, published ports, mounts) to their local equivalents. */
function localizer(
  compose: Compose,
  port: (s: string, p: number) => number,
  machine: { pg: URL; redis: URL },
  dataDir: string,
) {
  const machineAddr: Record<string, string> = {
    postgres: `${machine.pg.hostname}:${machine.pg.port || 5432}`,
    redis: `${machine.redis.hostname}:${machine.redis.port || 6379}`,
  };
  const publisher = new Map<number, [string, number]>();
  for (const [name, s] of Object.entries(compose.services))
    for (const p of portsOf(s)) publisher.set(p.host, [name, p.container]);
  return (service: string, value: string): string => {
    const s = compose.services[service]!;
    let v = value
      .replace(/\b0\.0\.0\.0:(\d+)\b/g, (_m, p: string) => `${LOCAL_HOST}:${port(service, Number(p))}`)
      .replace(/\blocalhost:(\d+)\b/g, (m, p: string) => {
        const pub = publisher.get(Number(p));
        return pub ? `localhost:${port(pub[0], pub[1])}` : m;
      })
      .replace(/\b([a-z][\w-]*):(\d+)\b/g, (m, host: string, p: string) => {
        if (machineAddr[host]) return machineAddr[host];
        return compose.services[host] && !(host in NOT_LOCAL) ? `${LOCAL_HOST}:${port(host, Number(p))}` : m;
      });
    if (v === '0.0.0.0') v = LOCAL_HOST;
    // A mount's target path, alone or as the value of a `--flag=`.
    const mounts = [
      ...bindsOf(s).map((b) => [b.target, join(REPO_ROOT, b.source)] as const),
      ...namedVolumesOf(s).map((m) => [m.target, join(dataDir, m.name)] as const),
    ];
    for (const [target, local] of mounts) {
      const m = new RegExp(`^(--[\\w.-]+=)?${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=/|$)`).exec(v);
      if (m) v = (m[1] ?? '') + local + v.slice(m[0].length);
    }
    return v;
  };
}

type StaticConfig = { targets: string[] };

/** Prometheus `static_configs` with every target localized; targets of NOT_LOCAL services and empty groups dropped. */
function localTargets(configs: StaticConfig[], localize: (t: string) => string): StaticConfig[] {
  return configs
    .map((sc) => ({
      ...sc,
      targets: sc.targets.filter((t) => !(t.split(':')[0]! in NOT_LOCAL)).map(localize),
    }))
    .filter((sc) => sc.targets.length);
}

/** Every string in a parsed YAML document passed through `f`. */
function mapStrings(value: unknown, f: (v: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)]));
  return value;
}

/**
 * A service whose `--config.file=` names other services: its command localized, the config it names
 * read, rewritten by `rewrite` and written to `<runDir>/<dir>/`, the flag pointing there.
 */
function derivedConfig(
  runDir: string,
  dir: string,
  command: string[],
  localize: (arg: string) => string,
  rewrite: (config: unknown, source: string) => unknown,
): { args: string[]; files: Record<string, string> } {
  const args = command.map(localize);
  const i = args.findIndex((a) => a.startsWith('--config.file='));
  if (i < 0) throw new Error(`${dir}: no --config.file= in its compose command`);
  const source = args[i]!.slice('--config.file='.length);
  const file = join(dir, basename(source));
  args[i] = `--config.file=${join(runDir, file)}`;
  return { args, files: { [file]: stringify(rewrite(parse(readFileSync(source, 'utf8')), source)) } };
}

/** The plan: every local service with its command, environment, ports and health check. No process starts. */
export async function planCluster(
  opts: Omit<ClusterOptions, 'toolsDir'> & { bins: Bins; runDir: string },
): Promise<ClusterPlan> {
  const compose = opts.compose ?? loadCompose();
  const prefix = opts.prefix ?? '';
  const services = localServices(compose);
  const ports = await planPorts(services, opts.ports ?? { offset: 0 });
  const port = (service: string, p: number) => {
    const local = ports.get(`${service}:${p}`);
    if (local === undefined) throw new Error(`${service} does not listen on ${p} in docker-compose.yml`);
    return local;
  };
  const pg = new URL(opts.databaseUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const redis = new URL(opts.redisUrl ?? 'redis://127.0.0.1:6379/0');
  const dataDir = opts.dataDir ?? join(REPO_ROOT, '.data', 'cluster');
  const localize = localizer(compose, port, { pg, redis }, dataDir);
  const appDir = join(opts.runDir, 'app');
  const hostOf = (service: string) =>
    service === 'postgres' ? pg.hostname : service === 'redis' ? redis.hostname : LOCAL_HOST;
  const temporalEnv = envOf(compose.services.temporal ?? {});
  const databases = {
    app: '',
    temporal: prefix + (temporalEnv.DBNAME ?? 'temporal'),
    visibility: prefix + (temporalEnv.VISIBILITY_DBNAME ?? 'temporal_visibility'),
  };
  const redisPrefix = `${prefix}brokerx:`;

  /** A service's compose environment, localized. */
  const envFor = (name: string, s: Service): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(envOf(s))) {
      if (isListenPortKey(key) && /^\d+$/.test(value) && Number(value) > 0)
        env[key] = String(port(name, Number(value)));
      else if (CONNECT_PORTS[key]) env[key] = localize(name, `${CONNECT_PORTS[key]}:${value}`).split(':')[1]!;
      else if (key === 'DATABASE_URL') {
        const url = new URL(pg);
        url.pathname = `/${prefix}${new URL(value).pathname.slice(1)}`;
        databases.app = url.pathname.slice(1);
        env[key] = url.toString();
      } else if (key === 'REDIS_URL') env[key] = redis.toString();
      else if (key === 'DBNAME' || key === 'VISIBILITY_DBNAME') env[key] = prefix + value;
      else if (HOST_KEY.test(key) && compose.services[value]) env[key] = hostOf(value);
      else env[key] = localize(name, value);
    }
    return env;
  };

  const planned: PlannedService[] = [];
  for (const [name, s] of services) {
    const env = envFor(name, s);
    const own = Object.fromEntries(listenPorts(name, s).map((p) => [p, port(name, p)]));
    const first = portsOf(s)[0]?.container;
    let launch: Launch;
    let health: PlannedService['health'] = first !== undefined ? { port: port(name, first) } : undefined;
    const image = imageName(s);
    if (isBuilt(s)) {
      const [node, ...args] = commandOf(s);
      if (node !== 'node') throw new Error(`${name}: command does not start node directly`);
      if (prefix) env.REDIS_PREFIX = redisPrefix;
      // Its Postgres connections are named <prefix><instance>: a fault test terminates only its own.
      if (prefix) env.DATABASE_APPLICATION_PREFIX = prefix;
      Object.assign(env, opts.appEnv);
      launch = { kind: 'process', cmd: process.execPath, args, env, cwd: appDir };
      if (env.PORT) health = { port: Number(env.PORT), path: '/ready' };
      else if (env.METRICS_PORT) health = { port: Number(env.METRICS_PORT), path: '/health' };
    } else if (image === 'temporalio/server') {
      launch = { kind: 'process', cmd: opts.bins['temporal-server'], args: temporalServerArgs(), env };
    } else if (image === 'temporalio/ui') {
      launch = {
        kind: 'process',
        cmd: opts.bins['temporal-ui-server'],
        args: ['--root', REPO_ROOT, '--config', 'ops/temporal/ui', '--env', 'docker', 'start'],
        env,
      };
    } else if (image === 'axllent/mailpit') {
      launch = {
        kind: 'process',
        cmd: opts.bins.mailpit,
        args: commandOf(s).map((a) => localize(name, a)),
        env,
      };
    } else if (image === 'nginx') {
      const files: Record<string, string> = {};
      for (const b of bindsOf(s)) {
        const text = readFileSync(join(REPO_ROOT, b.source), 'utf8')
          // Docker's DNS: the local upstream names addresses, not hosts.
          .replace(/^\s*resolver .*;\n/gm, '')
          .replace(
            /^(\s*)listen (\d+);/gm,
            (_m, sp: string, p: string) => `${sp}listen ${LOCAL_HOST}:${port(name, Number(p))};`,
          )
          .replace(
            /^(\s*server )(\S+)(.*?)( resolve)?( .*)?;$/gm,
            (_m, a: string, addr: string, b2: string, _r, c: string | undefined) =>
              `${a}${localize(name, addr)}${b2}${c ?? ''};`,
          );
        files[basename(b.target)] = text;
      }
      const conf = join(opts.runDir, 'nginx', 'nginx.conf');
      launch = {
        kind: 'process',
        cmd: opts.bins.nginx,
        args: [
          '-p',
          `${dirname(conf)}/`,
          '-c',
          conf,
          '-g',
          `daemon off; pid ${join(dirname(conf), 'nginx.pid')};`,
        ],
        env,
        files: Object.fromEntries(Object.entries(files).map(([f, t]) => [join('nginx', f), t])),
      };
    } else if (image === 'prom/prometheus') {
      const derived = derivedConfig(
        opts.runDir,
        'prometheus',
        commandOf(s),
        (a) => localize(name, a),
        (c, source) => {
          const config = c as {
            rule_files?: string[];
            alerting?: { alertmanagers?: { static_configs: StaticConfig[] }[] };
            scrape_configs: { job_name: string; static_configs: StaticConfig[] }[];
          };
          config.rule_files = (config.rule_files ?? []).map((f) =>
            isAbsolute(f) ? f : join(dirname(source), f),
          );
          const local = (scs: StaticConfig[]) => localTargets(scs, (t) => localize(name, t));
          for (const am of config.alerting?.alertmanagers ?? []) am.static_configs = local(am.static_configs);
          config.scrape_configs = config.scrape_configs
            .map((job) => ({ ...job, static_configs: local(job.static_configs) }))
            .filter((job) => job.static_configs.length);
          return config;
        },
      );
      const listen = port(name, listenPorts(name, s)[0]!);
      derived.args.push(`--web.listen-address=${LOCAL_HOST}:${listen}`);
      launch = { kind: 'process', cmd: opts.bins.prometheus, args: derived.args, env, files: derived.files };
      health = { port: listen, path: '/-/ready' };
    } else if (image === 'prom/alertmanager') {
      // The SMTP relay (mailpit:1025) and any other address in its config, localized.
      const derived = derivedConfig(
        opts.runDir,
        'alertmanager',
        commandOf(s),
        (a) => localize(name, a),
        (c) => mapStrings(c, (v) => localize(name, v)),
      );
      launch = {
        kind: 'process',
        cmd: opts.bins.alertmanager,
        args: derived.args,
        env,
        files: derived.files,
      };
      health = { port: port(name, portsOf(s)[0]!.container), path: '/-/ready' };
    } else if (image === 'temporalio/admin-tools') {
      const script = basename(
        String(s.entrypoint ?? '')
          .split(',')
          .at(-1) ?? '',
      );
      if (script === 'setup-schema.sh')
        launch = {
          kind: 'step',
          describe: 'Temporal schemas',
          run: () => setupTemporalSchema(opts.bins['temporal-sql-tool'], env),
        };
      else if (script === 'setup-namespace.sh')
        launch = {
          kind: 'step',
          describe: 'Temporal namespace and search attributes',
          run: () =>
            registerNamespace(
              env.TEMPORAL_ADDRESS!,
              env.TEMPORAL_NAMESPACE ?? 'default',
              env.SEARCH_ATTRIBUTES ?? '',
            ),
        };
      else throw new Error(`${name}: admin-tools entrypoint ${script} has no local equivalent`);
    } else throw new Error(`${name}: no local equivalent for ${s.image}`);
    const restartPolicy = s.restart ?? 'no';
    planned.push({
      name,
      launch,
      ports: own,
      health,
      dependsOn: Object.fromEntries(
        Object.entries(dependsOn(s)).filter(([dep]) => services.some(([n]) => n === dep)),
      ),
      restart: restartPolicy === 'unless-stopped' || restartPolicy === 'always',
    });
  }
  const volumeDirs = services.flatMap(([, s]) => namedVolumesOf(s).map((v) => join(dataDir, v.name)));
  return { services: planned, port, databases, redisPrefix, runDir: opts.runDir, appDir, volumeDirs };
}

/**
 * `max_connections` of the machine's PostgreSQL, and what docker-compose.yml gives its own postgres
 * (`-c max_connections=N`; PostgreSQL's default 100 without it).
 */
export async function postgresConnections(
  url: URL,
  compose: Compose,
): Promise<{ have: number; compose: number }> {
  const wanted = /^max_connections=(\d+)$/.exec(
    commandOf(compose.services.postgres ?? {}).find((a) => a.startsWith('max_connections=')) ?? '',
  )?.[1];
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ max_connections: string }[]>`SHOW max_connections`;
    return { have: Number(row!.max_connections), compose: Number(wanted ?? 100) };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

// ---- running the plan -------------------------------------------------------------------------------

export interface ProcessHandle {
  service: string;
  /** Container port -> local port. */
  ports: Record<number, number>;
  /** The process running now, if any. */
  current(): Managed | undefined;
  /** Send a signal (default SIGKILL) to the running process; the supervisor restarts it as compose would. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stop it for good (no restart) until start(). */
  stop(): Promise<void>;
  /** Start it again after stop() and wait until it is healthy. */
  start(): Promise<void>;
}

export interface Cluster {
  plan: ClusterPlan;
  handles: Record<string, ProcessHandle>;
  urls: {
    api: string;
    temporal: string;
    ui: string;
    mailpit: string;
    smtp: string;
    prometheus: string;
    alertmanager: string;
  };
  databases: ClusterPlan['databases'];
  redisPrefix: string;
  stop(): Promise<void>;
}

async function healthy(
  h: NonNullable<PlannedService['health']>,
  timeoutMs: number,
  proc?: Managed,
): Promise<void> {
  await waitForPort(h.port, `:${h.port}`, timeoutMs, proc);
  if (!h.path) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://${LOCAL_HOST}:${h.port}${h.path}`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (proc && proc.child.exitCode !== null) throw new Error(`exited (code ${proc.child.exitCode})`);
    if (Date.now() > deadline)
      throw new Error(`:${h.port}${h.path} not healthy within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * nginx, Prometheus and Alertmanager: the paths given (the tests look them up and skip without them,
 * test/binaries.ts), or else each found or installed with apt-get by `ensure` (`npm run start:cluster`).
 */
export function debianBins(
  given: DebianBins | undefined,
  log: (line: string) => void,
  ensure: typeof ensureDebianTool = ensureDebianTool,
): DebianBins {
  if (given) return given;
  const need = (bin: string): string => {
    const t = ensure(bin, bin, log);
    if (!t.ok) throw new Error(t.reason);
    return t.bin;
  };
  return {
    nginx: need(CLUSTER_DEBIAN_BINS.nginx),
    prometheus: need(CLUSTER_DEBIAN_BINS.prometheus),
    alertmanager: need(CLUSTER_DEBIAN_BINS.alertmanager),
  };
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const log = opts.log ?? ((line: string) => console.log(`[cluster] ${line}`));
  const tools = await ensureTools(opts.toolsDir, log, CLUSTER_TOOLS);
  const bins: Bins = { ...tools, ...debianBins(opts.debianBins, log) };
  const pg = new URL(opts.databaseUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const redis = new URL(opts.redisUrl ?? 'redis://127.0.0.1:6379/0');
  for (const [what, url, def] of [
    ['PostgreSQL', pg, 5432],
    ['Redis', redis, 6379],
  ] as const)
    if (!(await portOpen(Number(url.port || def), url.hostname)))
      throw new Error(`${what} is not reachable at ${url.hostname}:${url.port || def}`);
  const connections = await postgresConnections(pg, opts.compose ?? loadCompose());
  if (connections.have < connections.compose)
    log(
      `warning: the machine's PostgreSQL allows ${connections.have} connections, docker-compose.yml's postgres ` +
        `${connections.compose}. Under load the cluster's pools and Temporal's take about 100, and a request ` +
        `that finds none left is answered 503. For load runs: ALTER SYSTEM SET max_connections = ` +
        `${connections.compose}; then restart PostgreSQL.`,
    );

  const runDir = mkdtempSync(join(tmpdir(), 'brokerx-cluster-'));
  const dataDir = opts.dataDir ?? (opts.prefix ? join(runDir, 'data') : undefined);
  const plan = await planCluster({ ...opts, bins, runDir, dataDir });
  const busy: string[] = [];
  for (const s of plan.services)
    for (const p of Object.values(s.ports)) if (await portOpen(p)) busy.push(`${s.name} :${p}`);
  if (busy.length) {
    rmSync(runDir, { recursive: true, force: true });
    throw new Error(
      `ports in use: ${busy.join(', ')}. Stop what uses them or move the cluster (CLUSTER_PORT_OFFSET=10000).`,
    );
  }
  for (const d of plan.volumeDirs) mkdirSync(d, { recursive: true });
  log('compiling the app (dist/) into a local copy of the image');
  await prepareAppDir(plan.appDir).catch((err: unknown) => {
    rmSync(runDir, { recursive: true, force: true });
    throw err;
  });
  for (const s of plan.services)
    if (s.launch.kind === 'process')
      for (const [file, text] of Object.entries(s.launch.files ?? {})) {
        mkdirSync(dirname(join(runDir, file)), { recursive: true });
        if (file.startsWith('nginx')) mkdirSync(join(runDir, 'nginx', 'logs'), { recursive: true });
        writeFileSync(join(runDir, file), text);
      }

  let stopping = false;
  const handles: Record<string, ProcessHandle> = {};
  const ready = new Map<string, Promise<void>>();

  const spawnOf = (s: PlannedService): Managed => {
    const l = s.launch as Extract<Launch, { kind: 'process' }>;
    return startProcess(s.name, l.cmd, l.args, {
      env: { ...baseEnv(), ...l.env },
      cwd: l.cwd ?? REPO_ROOT,
      output: opts.output,
    });
  };

  const runService = async (s: PlannedService): Promise<void> => {
    await Promise.all(
      Object.entries(s.dependsOn).map(async ([dep, condition]) => {
        await ready.get(dep);
        void condition; // every dependency is awaited until healthy (or completed, for one-shots)
      }),
    );
    if (stopping) throw new Error('stopping');
    if (s.launch.kind === 'step') {
      log(`${s.name}: ${s.launch.describe}`);
      await s.launch.run();
      log(`${s.name}: done`);
      return;
    }
    let proc: Managed | undefined;
    let wanted = true;
    let restarts = 0;
    const launch = () => {
      const p = spawnOf(s);
      proc = p;
      void p.exited.then((code) => {
        if (stopping || !wanted || proc !== p) return;
        if (!s.restart) {
          if (code !== 0) log(`${s.name} exited (code ${code})`);
          return;
        }
        restarts++;
        const delay = Math.min(500 * restarts, 5_000);
        log(`${s.name} exited (code ${code}); restarting in ${delay} ms`);
        setTimeout(() => {
          if (!stopping && wanted && proc === p) launch();
        }, delay);
      });
      return p;
    };
    const p = launch();
    handles[s.name] = {
      service: s.name,
      ports: s.ports,
      current: () => proc,
      async kill(signal = 'SIGKILL') {
        const cur = proc;
        if (!cur?.child.pid) return;
        try {
          process.kill(-cur.child.pid, signal);
        } catch {
          /* gone */
        }
        await cur.exited;
      },
      async stop() {
        wanted = false;
        await proc?.stop(s.name === 'nginx' ? 'SIGQUIT' : 'SIGTERM', APP_STOP_GRACE_MS);
      },
      async start() {
        wanted = true;
        restarts = 0;
        const q = launch();
        if (s.health) await healthy(s.health, 120_000, q);
      },
    };
    if (s.launch.kind === 'process' && !s.restart) {
      // A one-shot process (migrate): done when it exits 0.
      const code = await p.exited;
      if (code !== 0) throw new Error(`${s.name} exited with code ${code}`);
      log(`${s.name}: done`);
      return;
    }
    if (s.health)
      await healthy(s.health, 180_000, p).catch((err: Error) => {
        throw new Error(`${s.name}: ${err.message}`);
      });
    log(`${s.name} ready`);
  };

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Dependents before what they depend on: the balancer first, Temporal and Mailpit last.
    const order = [...plan.services].reverse();
    const level = new Map<string, number>();
    const depth = (name: string): number => {
      if (level.has(name)) return level.get(name)!;
      const s = plan.services.find((x) => x.name === name);
      const d = s ? Math.max(0, ...Object.keys(s.dependsOn).map((dep) => depth(dep) + 1)) : 0;
      level.set(name, d);
      return d;
    };
    const levels = [...new Set(order.map((s) => depth(s.name)))].sort((a, b) => b - a);
    for (const l of levels)
      await Promise.all(
        order.filter((s) => depth(s.name) === l && handles[s.name]).map((s) => handles[s.name]!.stop()),
      );
    rmSync(runDir, { recursive: true, force: true });
  };

  for (const s of plan.services) ready.set(s.name, runService(s));
  for (const p of ready.values()) p.catch(() => undefined);
  try {
    await Promise.all(ready.values());
  } catch (err) {
    await stop();
    throw err;
  }

  const url = (service: string, p: number, scheme = 'http') =>
    `${scheme}://${LOCAL_HOST}:${plan.port(service, p)}`;
  return {
    plan,
    handles,
    urls: {
      api: url('nginx', 3000),
      temporal: `${LOCAL_HOST}:${plan.port('temporal', 7233)}`,
      ui: url('temporal-ui', 8080),
      mailpit: url('mailpit', 8025),
      smtp: url('mailpit', 1025, 'smtp'),
      prometheus: url('prometheus', 9090),
      alertmanager: url('alertmanager', 9093),
    },
    databases: plan.databases,
    redisPrefix: plan.redisPrefix,
    stop,
  };
}
