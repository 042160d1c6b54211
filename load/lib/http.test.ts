import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerOf, postJson } from './http.js';

let server: Server;
let url: string;
let connections = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-instance': 'api-1' });
      res.end(JSON.stringify({ echoed: JSON.parse(body) as unknown, auth: req.headers.authorization }));
    });
  });
  // The server announces `Keep-Alive: timeout=2` and closes idle connections after 2 s.
  server.keepAliveTimeout = 2_000;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('postJson', () => {
  it('posts JSON and returns the status, the headers and the body', async () => {
    const answer = await postJson(url, { order: { quantity: 1 } }, { authorization: 'Bearer t' });
    expect(answer.status).toBe(201);
    expect(headerOf(answer, 'X-Instance')).toBe('api-1');
    expect(JSON.parse(answer.body)).toEqual({ echoed: { order: { quantity: 1 } }, auth: 'Bearer t' });
  });

  it("reuses a connection, and drops an idle one before the server's announced keep-alive timeout", async () => {
    await postJson(url, {}, {});
    const before = connections;
    await postJson(url, {}, {});
    expect(connections).toBe(before); // kept alive and reused
    // Past the agent's margin (the hint less 1 s), before the server's own 2 s: a new connection.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await postJson(url, {}, {})).status).toBe(201);
    expect(connections).toBe(before + 1);
  });
});
