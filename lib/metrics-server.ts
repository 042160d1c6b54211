/**
 * The metrics port of a process: `/metrics` (Prometheus text from one prom-client registry), `/health`,
 * and any read-only JSON routes the process adds (the matching worker's `/books`). The api serves its
 * metrics here too (API_METRICS_PORT), never on its public port.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

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
