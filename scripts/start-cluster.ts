/**
 * `npm run start:cluster`: the production topology of docker-compose.yml as local processes, until
 * Ctrl-C (devstack/cluster.ts): Temporal's server on Postgres with its Web UI, nginx on :3000 in front of
 * three api instances, two trading workers, matching shards 0 and 1 plus a standby, two outbox relays,
 * Mailpit, Prometheus and Alertmanager (mailing alerts through Mailpit). The first run builds the
 * Temporal server, its sql tool and the UI server.
 *   CLUSTER_PORT_OFFSET=10000   every port moved up (beside `npm start`)
 *   CLUSTER_PREFIX=mine_        databases and Redis keys with a prefix
 */
import { loadConfigOrExit } from '../lib/config.js';
import { startCluster, type Cluster } from '../devstack/cluster.js';

const log = (msg: string) => console.log(`[cluster] ${msg}`);
const config = loadConfigOrExit(process.env);

let cluster: Cluster | undefined;
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  log('stopping ...');
  await cluster?.stop();
  log('all processes stopped');
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  // It compiles the app first and runs compose's command lines in a local copy of the image's /app.
  cluster = await startCluster({
    ports: { offset: config.CLUSTER_PORT_OFFSET },
    prefix: config.CLUSTER_PREFIX,
    databaseUrl: config.DATABASE_URL,
    redisUrl: config.REDIS_URL,
    toolsDir: config.BROKERX_TOOLS_DIR,
    log,
  });
} catch (err) {
  console.error(`[cluster] failed: ${(err as Error).message}`);
  await stop(1);
}
if (cluster && !stopping) {
  const rows = cluster.plan.services
    .filter((s) => Object.keys(s.ports).length)
    .map(
      (s) =>
        `    ${s.name.padEnd(18)} ${Object.values(s.ports)
          .map((p) => `:${p}`)
          .join(' ')}`,
    );
  console.log(`
  BrokerX cluster is up (docker-compose.yml as local processes).
    API (nginx)      ${cluster.urls.api}   (X-Instance names the api instance)
    Temporal         ${cluster.urls.temporal}   (server v1.29.1 on Postgres: ${cluster.databases.temporal}, ${cluster.databases.visibility})
    Temporal UI      ${cluster.urls.ui}
    Mail (Mailpit)   ${cluster.urls.mailpit}
    Prometheus       ${cluster.urls.prometheus}
    Alertmanager     ${cluster.urls.alertmanager}   (mails alerts to Mailpit: on-call and team)
    Database         ${cluster.databases.app}
  Processes and their ports:
${rows.join('\n')}
  Ctrl-C stops everything.
`);
}
