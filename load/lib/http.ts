/**
 * The load generator's HTTP client for the requests it times: node:http over one keep-alive agent. The
 * generator shares the two cores with the stack it measures, so its own CPU per request counts against
 * the real flow's throughput; on this machine kind `fetch` (undici's WHATWG layer: Request, Headers,
 * body streams) cost about 0.4 ms of CPU per order request and node:http about 0.1 ms
 * (docs/benchmarks/README.md, the table of changes).
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http';

/** An answer as the drivers read it: its status, its headers (lower-case names) and its body as text. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One agent for the whole run: connections are kept and reused, as undici's pool did for fetch. An idle
 * connection is closed a second before the server's announced `Keep-Alive: timeout` (the api's 5 s), so
 * that a request never goes out on a connection the server is closing (ECONNRESET): Node's agent takes
 * that hint only when it is shorter than a timeout of its own, hence `timeout` (under nginx's 65 s).
 */
const agent = new Agent({ keepAlive: true, timeout: 30_000 });

/** POST `body` as JSON to `url` with `headers`; resolves with the whole answer, rejects when no answer came. */
export function postJson(url: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  const payload = JSON.stringify(body);
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A header of an answer, as one string (the first of a repeated header). */
export function headerOf(answer: Answer, name: string): string | undefined {
  const value = answer.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
