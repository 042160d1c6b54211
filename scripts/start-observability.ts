/**
 * `npm run start:observability`: Prometheus on :9090 scraping the local processes, with the BrokerX
 * alert rules (ops/prometheus/alerts.yml). Installs the Debian package `prometheus` when it is missing.
 *   ops/prometheus/prometheus.local.yml      for `npm start` (api :3000, workers :9464-9466, Temporal :7235)
 * (`npm run start:cluster` runs its own Prometheus.) Data stays in .data/prometheus. Grafana is not packaged by Debian: its dashboards run in docker compose.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDebianTool } from '../devstack/debian-tools.js';
import { portOpen, startProcess, waitForPort } from '../devstack/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (msg: string) => console.log(`[observability] ${msg}`);

export const PROMETHEUS_PORT = 9090;
export const LOCAL_CONFIG = join(root, 'ops/prometheus/prometheus.local.yml');

export function prometheusArgs(configFile: string, dataDir: string): string[] {
  return [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${dataDir}`,
    '--storage.tsdb.retention.time=2d',
    `--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}`,
    '--web.enable-lifecycle',
  ];
}

async function main(): Promise<void> {
  const prometheus = ensureDebianTool('prometheus', 'prometheus', log);
  if (!prometheus.ok) {
    console.error(`[observability] ${prometheus.reason}`);
    process.exit(1);
  }
  if (await portOpen(PROMETHEUS_PORT)) {
    console.error(
      `Port ${PROMETHEUS_PORT} is in use: another Prometheus (the Debian service? \`service prometheus stop\`) or another \`npm run start:observability\`.`,
    );
    process.exit(1);
  }

  const configFile = LOCAL_CONFIG;
  const dataDir = join(root, '.data', 'prometheus');
  mkdirSync(dataDir, { recursive: true });
  log(`scraping the processes of npm start: ${configFile}`);

  const proc = startProcess('prometheus', prometheus.bin, prometheusArgs(configFile, dataDir), { cwd: root });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await proc.stop('SIGTERM', 10_000);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  void proc.exited.then((code) => {
    if (stopping) return;
    console.error(`[observability] prometheus exited (code ${code})`);
    process.exit(1);
  });

  try {
    await waitForPort(PROMETHEUS_PORT, 'prometheus', 30_000, proc);
  } catch (err) {
    console.error(`[observability] ${(err as Error).message}`);
    await stop(1);
  }
  console.log(`
  Prometheus is up: http://localhost:${PROMETHEUS_PORT}
    targets  http://localhost:${PROMETHEUS_PORT}/targets
    alerts   http://localhost:${PROMETHEUS_PORT}/alerts   (ops/prometheus/alerts.yml)
  Ctrl-C stops it.
`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
