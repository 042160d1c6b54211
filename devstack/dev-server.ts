/**
 * devstack/: the local Temporal of `npm start`, the integration tests and the benchmarks. The CLI's dev
 * server on a file-backed SQLite database (WAL, synchronous=normal), with the committed dynamic config
 * (temporal/dynamic-config.yaml) and the TradingSaga search attributes registered at start.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes.js';
import { startProcess, supervise, waitForPort, type Managed, type Supervised } from './processes.js';

export const DYNAMIC_CONFIG_FILE = fileURLToPath(new URL('../temporal/dynamic-config.yaml', import.meta.url));

/** `key=value` pairs from the committed dynamic config file. */
export function dynamicConfigValues(file = DYNAMIC_CONFIG_FILE): string[] {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, { value: unknown }[]>;
  return Object.entries(doc).map(([key, entries]) => `${key}=${JSON.stringify(entries[0]?.value)}`);
}

export interface DevServerOptions {
  bin: string;
  dbFile: string;
  port: number;
  uiPort?: number; // omitted: headless
  httpPort: number;
  metricsPort: number;
  output?: 'prefix' | 'ignore';
}

export function devServerArgs(o: DevServerOptions): string[] {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(o.port),
    '--http-port',
    String(o.httpPort),
    '--metrics-port',
    String(o.metricsPort),
    '--db-filename',
    o.dbFile,
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    '--log-level',
    'warn',
  ];
  if (o.uiPort) args.push('--ui-port', String(o.uiPort));
  else args.push('--headless');
  for (const kv of dynamicConfigValues()) args.push('--dynamic-config-value', kv);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
    args.push('--search-attribute', `${name}=${type}`);
  return args;
}

/** A start that exits before it listens is tried again, this many times in all, before it fails. */
const START_ATTEMPTS = 3;

const spawnDevServer = (o: DevServerOptions): Managed =>
  startProcess('temporal', o.bin, devServerArgs(o), { output: o.output });

/**
 * The dev server, resolved once it listens. A start that exits before listening is tried again, up to
 * START_ATTEMPTS starts in all (a port taken for a moment: another process's outgoing connection may
 * take one of the ports the dev server picks for its own services); then, or on a start that never
 * listens, it throws with the last lines the dev server wrote.
 */
export async function startDevServer(o: DevServerOptions): Promise<Managed> {
  for (let attempt = 1; ; attempt++) {
    const proc = spawnDevServer(o);
    try {
      await waitForPort(o.port, 'Temporal dev server', 60_000, proc);
      return proc;
    } catch (err) {
      if (proc.child.exitCode === null || attempt >= START_ATTEMPTS) {
        await proc.stop('SIGKILL');
        throw err;
      }
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

/**
 * The dev server, restarted on its SQLite file whenever it dies (devstack/processes.ts `supervise`):
 * every workflow, timer and task it held comes back; workers and clients reconnect by themselves, and
 * the api answers 503 with Retry-After meanwhile. Its first start is `startDevServer`'s, retries and
 * all; supervision begins once it listens.
 */
export async function superviseDevServer(
  o: DevServerOptions,
  log?: (msg: string) => void,
): Promise<Supervised> {
  let first: Managed | undefined = await startDevServer(o);
  return supervise(
    'temporal',
    () => {
      const proc = first ?? spawnDevServer(o);
      first = undefined;
      return proc;
    },
    {
      log,
      onStart: (proc, restarts) => {
        if (restarts > 0)
          void waitForPort(o.port, 'Temporal dev server', 60_000, proc).then(
            () => log?.(`temporal back on :${o.port} (restart ${restarts}, ${o.dbFile})`),
            (err: Error) => log?.(err.message),
          );
      },
    },
  );
}
