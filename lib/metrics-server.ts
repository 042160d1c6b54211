/**
 * The metrics port of a process: `/metrics` (Prometheus text from one prom-client registry), `/health`,
 * and any read-only JSON routes the process adds (the matching worker's `/books`). The api serves its
 * metrics here too (API_METRICS_PORT), never on its public port.
 */
import { createServer, type Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { registerIoCounts } from './io-counts.js';

/**
 * How often the event-loop delay monitor of the default metrics samples (ms). At prom-client's default,
 * 10, it wakes an idle process 100 times a second: measured on session 18's AMD EPYC (bare Node
 * processes side by side, 40 s, two rounds), an idle process cost 4.0 to 4.5 ms of CPU a second with it,
 * 1.5 to 1.75 at 100 and 0.75 without the default metrics. The cluster shape runs ten Node processes.
 * A loop blocked for longer than this still shows in `nodejs_eventloop_lag_*`, less at most this.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * A process's Prometheus registry: its labels (`process`, `instance_id`), Node's default metrics and the
 * I/O counts (IO_COUNTS=on).
 */
export function processRegistry(processName: string, instance: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process: processName, instance_id: instance });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  registerIoCounts(registry);
  return registry;
}

export function serveMetrics(
  registry: Registry,
  port: number,
  host = '0.0.0.0',
  routes: Record<string, () => unknown> = {},
): Promise<Server> {
  const server = createServer((req, res) => {
    const route = req.url ? routes[req.url] : undefined;
    if (route) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(route()));
    } else if (req.url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
