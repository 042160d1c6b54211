/**
 * `npm run start:lb`: three api instances behind nginx, as docker compose runs them, on this machine.
 *   api-1..3 on :3001-3003 (`npm run start:api` with PORT and INSTANCE_ID; each serves its own /metrics)
 *   nginx on :3000, least_conn, /ws upgraded (ops/nginx/nginx.conf + upstream-servers.local.conf),
 *   stub_status on :8081
 * The rest of the stack must already run: `PORT=3010 INSTANCE_ID=api-0 npm start` keeps `npm start`'s
 * own api off :3000. Installs nginx with apt-get when it is missing. Ctrl-C stops everything.
 */
import { rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfigOrExit, type Config } from '../lib/config.js';
import { ensureDebianTool } from '../devstack/debian-tools.js';
import { API_INSTANCES, prepareNginxPrefix } from '../devstack/nginx.js';
import { portOpen, startProcess, waitForPort, type Managed } from '../devstack/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (msg: string) => console.log(`[start-lb] ${msg}`);

export const LB_PORT = 3000;
export const LB_STATUS_PORT = 8081;

async function preflight(config: Config): Promise<string[]> {
  const problems: string[] = [];
  const pg = new URL(config.DATABASE_URL);
  const redis = new URL(config.REDIS_URL);
  const [temporalHost = '127.0.0.1', temporalPort = '7233'] = config.TEMPORAL_ADDRESS.split(':');
  const needed = [
    { what: 'PostgreSQL', host: pg.hostname, port: Number(pg.port || 5432) },
    { what: 'Redis', host: redis.hostname, port: Number(redis.port || 6379) },
    { what: 'Temporal', host: temporalHost, port: Number(temporalPort) },
  ];
  for (const n of needed) {
    if (!(await portOpen(n.port, n.host)))
      problems.push(`${n.what} is not reachable at ${n.host}:${n.port}.`);
  }
  if (problems.length)
    problems.push(
      'Start the rest of the stack first, with its api off :3000:\n    PORT=3010 INSTANCE_ID=api-0 npm start',
    );
  for (const port of [LB_PORT, LB_STATUS_PORT, ...API_INSTANCES.map((a) => a.port)]) {
    if (await portOpen(port)) {
      problems.push(
        port === LB_PORT
          ? `Port ${LB_PORT} is in use (the api of \`npm start\`?). Restart it as \`PORT=3010 INSTANCE_ID=api-0 npm start\`.`
          : `Port ${port} is in use: is another \`npm run start:lb\` running?`,
      );
    }
  }
  return problems;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit(process.env);

  const nginx = ensureDebianTool('nginx', 'nginx', log);
  if (!nginx.ok) {
    console.error(`[start-lb] ${nginx.reason}`);
    process.exit(1);
  }
  const problems = await preflight(config);
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }

  const prefix = prepareNginxPrefix();
  const check = spawnSync(nginx.bin, prefix.args(['-t', '-q']), { encoding: 'utf8' });
  if (check.status !== 0) {
    console.error(`[start-lb] nginx rejects ${prefix.conf}:\n${check.stderr}`);
    rmSync(prefix.dir, { recursive: true, force: true });
    process.exit(1);
  }

  const procs = new Map<string, Managed>();
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log('stopping ...');
    // The balancer first, so no request reaches an api that is going away.
    await procs.get('nginx')?.stop('SIGQUIT', 5_000);
    await Promise.all(
      [...procs.entries()].filter(([name]) => name !== 'nginx').map(([, p]) => p.stop('SIGTERM', 10_000)),
    );
    rmSync(prefix.dir, { recursive: true, force: true });
    log('all processes stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  /** An api instance; one that dies is restarted after a growing delay, as `npm start` does. */
  const startApi = (id: string, port: number, restarts = 0) => {
    // nginx appends the client address to X-Forwarded-For: one trusted hop.
    const env = { ...process.env, PORT: String(port), INSTANCE_ID: id, TRUSTED_PROXY_HOPS: '1' };
    const proc = startProcess(id, 'npm', ['run', '--silent', 'start:api'], { env, cwd: root });
    procs.set(id, proc);
    void proc.exited.then((code) => {
      if (stopping) return;
      const delay = Math.min(1000 * (restarts + 1), 10_000);
      log(`${id} exited (code ${code}); restarting in ${delay} ms`);
      setTimeout(() => !stopping && startApi(id, port, restarts + 1), delay);
    });
  };

  try {
    for (const a of API_INSTANCES) startApi(a.id, a.port);
    await Promise.all(API_INSTANCES.map((a) => waitForPort(a.port, a.id, 90_000)));
    const lb = startProcess('nginx', nginx.bin, prefix.args(), { cwd: prefix.dir });
    procs.set('nginx', lb);
    void lb.exited.then((code) => {
      if (stopping) return;
      console.error(`[start-lb] nginx exited (code ${code}); stopping`);
      void stopAll(1);
    });
    await waitForPort(LB_PORT, 'nginx', 10_000, lb);
    console.log(`
  Load balancer is up.
    nginx (least_conn)  http://localhost:${LB_PORT}   (X-Upstream-Server tells which instance answered)
    api instances       ${API_INSTANCES.map((a) => `${a.id} :${a.port}`).join(', ')}   (each with /metrics)
    nginx status        http://localhost:${LB_STATUS_PORT}/stub_status
    nginx prefix        ${prefix.dir}
  Ctrl-C stops the balancer and the three instances (not \`npm start\`).
`);
  } catch (err) {
    console.error(`[start-lb] failed: ${(err as Error).message}`);
    await stopAll(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
