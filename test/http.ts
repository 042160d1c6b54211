import { expect } from 'vitest';

/** A client's request against an app in process (`app.request`): JSON body, bearer token, raw bodies. */
export interface CallOptions {
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  raw?: string;
}

export async function callApp(
  app: { request(path: string, init: RequestInit): Response | Promise<Response> },
  method: string,
  path: string,
  opts: CallOptions = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  return app.request(path, { method, headers, body });
}

/** Assert `res` is an RFC 9457 problem with `status` (and `code`), without internals; returns its body. */
export async function expectProblem(
  res: Response,
  status: number,
  code?: string,
): Promise<Record<string, unknown> & { errors?: string[] }> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = (await res.json()) as Record<string, unknown> & { errors?: string[] };
  expect(body).toMatchObject({ success: false, status, ...(code ? { code } : {}) });
  expect(typeof body.detail).toBe('string');
  expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/); // no stack traces
  return body;
}
