/**
 * `npm run start:observability`: Prometheus on :9090 scraping the processes of `npm start`
 * (ops/prometheus/prometheus.local.yml: api metrics :9463, workers :9464-9466, a matching standby
 * :9467, Temporal :7235) with the BrokerX alert rules (ops/prometheus/alerts.yml), and Alertmanager on :9093 mailing firing alerts to
 * Mailpit (ops/alertmanager/alertmanager.local.yml). Installs the Debian packages `prometheus` and
 * `prometheus-alertmanager` when they are missing. (`npm run start:cluster` runs its own Prometheus and Alertmanager.)
 * Data stays in .data/prometheus and .data/alertmanager. Grafana is not packaged by Debian: its
 * dashboards run in docker compose.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDebianTool } from '../devstack/debian-tools.js';
import { portOpen, startProcess, waitForPort } from '../devstack/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (msg: string) => console.log(`[observability] ${msg}`);

export const PROMETHEUS_PORT = 9090;
export const ALERTMANAGER_PORT = 9093;
export const ALERTMANAGER_CONFIG = join(root, 'ops/alertmanager/alertmanager.local.yml');
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

export function alertmanagerArgs(configFile: string, dataDir: string): string[] {
  return [
    `--config.file=${configFile}`,
    `--storage.path=${dataDir}`,
    `--web.listen-address=127.0.0.1:${ALERTMANAGER_PORT}`,
    // A single instance: no gossip port.
    '--cluster.listen-address=',
  ];
}

async function main(): Promise<void> {
  const prometheus = ensureDebianTool('prometheus', 'prometheus', log);
  const alertmanager = ensureDebianTool('prometheus-alertmanager', 'prometheus-alertmanager', log);
  for (const tool of [prometheus, alertmanager])
    if (!tool.ok) {
      console.error(`[observability] ${tool.reason}`);
      process.exit(1);
    }
  if (!prometheus.ok || !alertmanager.ok) return;
  for (const [port, name] of [
    [PROMETHEUS_PORT, 'prometheus'],
    [ALERTMANAGER_PORT, 'prometheus-alertmanager'],
  ] as const)
    if (await portOpen(port)) {
      console.error(
        `Port ${port} is in use: another ${name} (the Debian service? \`service ${name} stop\`) or another \`npm run start:observability\`.`,
      );
      process.exit(1);
    }

  const configFile = LOCAL_CONFIG;
  const dataDir = join(root, '.data', 'prometheus');
  mkdirSync(dataDir, { recursive: true });
  log(`scraping the processes of npm start: ${configFile}`);

  const amDataDir = join(root, '.data', 'alertmanager');
  mkdirSync(amDataDir, { recursive: true });
  const procs = [
    {
      name: 'alertmanager',
      port: ALERTMANAGER_PORT,
      bin: alertmanager.bin,
      args: alertmanagerArgs(ALERTMANAGER_CONFIG, amDataDir),
    },
    {
      name: 'prometheus',
      port: PROMETHEUS_PORT,
      bin: prometheus.bin,
      args: prometheusArgs(configFile, dataDir),
    },
  ].map((p) => ({ ...p, proc: startProcess(p.name, p.bin, p.args, { cwd: root }) }));
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.allSettled(procs.map((p) => p.proc.stop('SIGTERM', 10_000)));
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  for (const p of procs)
    void p.proc.exited.then((code) => {
      if (stopping) return;
      console.error(`[observability] ${p.name} exited (code ${code})`);
      void stop(1);
    });

  try {
    await Promise.all(procs.map((p) => waitForPort(p.port, p.name, 30_000, p.proc)));
  } catch (err) {
    console.error(`[observability] ${(err as Error).message}`);
    await stop(1);
  }
  console.log(`
  Prometheus is up: http://localhost:${PROMETHEUS_PORT}
    targets  http://localhost:${PROMETHEUS_PORT}/targets
    alerts   http://localhost:${PROMETHEUS_PORT}/alerts   (ops/prometheus/alerts.yml)
  Alertmanager: http://localhost:${ALERTMANAGER_PORT}, mails alerts to Mailpit http://localhost:8025
  Ctrl-C stops it.
`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
