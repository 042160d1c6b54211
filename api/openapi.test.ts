/**
 * The contract of the OpenAPI document, walked operation by operation: what apiRoute() (api/openapi.ts)
 * gives every route. A route declared some other way fails here with its method and path named.
 */
import { describe, expect, it } from 'vitest';
import { createUnitApp } from '../test/unit-app.js';
import { inertApp, openApiDocument } from './document.js';
import { TAGS } from './openapi.js';

/** Served but not API operations of the document, each with its reason. */
const NOT_OPERATIONS: Record<string, string> = {
  'GET /openapi.json': 'the document itself',
  'GET /docs': 'the API reference page (HTML) that renders the document',
  'GET /docs/scalar.js': "the reference page's script (Scalar)",
  'GET /': "the trader's page (HTML, web/)",
  'GET /verify': "the trader's page, opened by the verification mail's link",
  'GET /reset-password': "the trader's page, opened by the password-reset mail's link",
  'GET /reset-authenticator': "the trader's page, opened by the authenticator-reset mails' links",
  'GET /unlock': "the trader's page, opened by the login-unlock mail's link",
  'GET /assets/{name}': "the trader's page's bundled script and styles",
};

const HOW = 'declare it with apiRoute() from api/openapi.ts (it requires operationId, tag, auth and errors)';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

interface Media {
  example?: unknown;
  examples?: unknown;
}
interface Response {
  $ref?: string;
  headers?: Record<string, unknown>;
  content?: Record<string, Media>;
}
interface Operation {
  operationId?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: unknown[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, Response>;
}

const doc = openApiDocument() as unknown as {
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  components: { responses: Record<string, Response> };
  servers?: { url: string }[];
  tags?: { name: string }[];
};
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  METHODS.flatMap((m) => (item[m] ? [{ where: `${m.toUpperCase()} ${path}`, op: item[m] }] : [])),
);
/** A response with its $ref resolved. */
const resolve = (r: Response): Response =>
  r.$ref ? (doc.components.responses[r.$ref.split('/').pop()!] ?? {}) : r;

/** Every failure of one operation, each naming the operation. */
function contractProblems(where: string, op: Operation): string[] {
  const problems: string[] = [];
  const fail = (what: string) => problems.push(`${where}: ${what}; ${HOW}`);
  if (!op.operationId || !/^[a-z][A-Za-z0-9]*$/.test(op.operationId))
    fail(`operationId ${op.operationId ?? '(none)'} is not a camelCase name`);
  if (op.tags?.length !== 1 || !(op.tags[0]! in TAGS))
    fail(`tags ${JSON.stringify(op.tags ?? [])} are not one of ${Object.keys(TAGS).join(', ')}`);
  if (!Array.isArray(op.security)) fail('no security requirement (security: [] for a public operation)');
  const statuses = Object.keys(op.responses);
  const needs = (status: string, why: string) => {
    if (!statuses.includes(status)) fail(`no ${status} response (${why})`);
  };
  needs('500', 'every operation can fail unexpectedly');
  needs('400', "the edge guard reads every request's path, query string and headers");
  needs('422', "the edge guard reads every request's path, query string and headers");
  if (!where.startsWith('GET ')) needs('413', 'the body limit counts the body of any request but a GET');
  if (op.requestBody) needs('415', 'it takes a body');
  if (op.security?.some((s) => Object.keys(s).length > 0)) needs('401', 'it takes a bearer token');
  for (const [status, raw] of Object.entries(op.responses)) {
    const response = resolve(raw);
    const headers = Object.keys(response.headers ?? {});
    if (!headers.includes('X-Request-Id')) fail(`${status} response documents no X-Request-Id header`);
    if (['429', '503'].includes(status) && raw.$ref && !headers.includes('Retry-After'))
      fail(`${status} response documents no Retry-After header`);
    if (status === '401' && !headers.includes('WWW-Authenticate'))
      fail('401 response documents no WWW-Authenticate header');
    for (const [type, media] of Object.entries(response.content ?? {}))
      if (media.example === undefined && media.examples === undefined)
        fail(`${status} response ${type} has no example`);
    if (Number(status) >= 400 && !response.content?.['application/problem+json'] && status !== '503')
      fail(`${status} response is not application/problem+json`);
  }
  for (const [type, media] of Object.entries(op.requestBody?.content ?? {}))
    if (media.example === undefined && media.examples === undefined)
      fail(`request body ${type} has no example`);
  return problems;
}

describe('OpenAPI contract', () => {
  it('every route the api serves is an operation of the document (or a listed exception)', () => {
    const { app } = inertApp();
    const documented = new Set(operations.map((o) => o.where));
    const served = [
      ...new Set(
        app.routes
          .filter((r) => r.method !== 'ALL')
          .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`),
      ),
    ];
    const undocumented = served
      .filter((route) => !documented.has(route) && !(route in NOT_OPERATIONS))
      .map((route) => `${route}: served but not in /openapi.json; ${HOW}`);
    expect(undocumented).toEqual([]);
    expect(served.length).toBeGreaterThan(operations.length);
  });

  it('every operation has an operationId, one tag, its security, its error responses, headers and examples', () => {
    expect(operations.length).toBeGreaterThan(30);
    const ids = operations.map((o) => o.op.operationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    // The reference page lists operations by summary: two alike read as one listed twice.
    const summaries = operations.map((o) => (o.op as { summary?: string }).summary);
    expect(summaries.filter((s, i) => !s || summaries.indexOf(s) !== i)).toEqual([]);
    expect(operations.flatMap(({ where, op }) => contractProblems(where, op))).toEqual([]);
  });

  it('the operations that wait on an order saga declare its 504 timeout', () => {
    const waiting = ['placeOrder', 'replaceOrder', 'cancelOrder', 'deleteOrder', 'cancelAllOrders'];
    const found = operations.filter(({ op }) => waiting.includes(op.operationId!));
    expect(found).toHaveLength(waiting.length);
    expect(found.filter(({ op }) => !op.responses['504']).map((o) => o.where)).toEqual([]);
  });

  it('names the servers and every tag it uses', () => {
    expect(doc.servers?.[0]?.url).toBe('/');
    expect(doc.tags?.map((t) => t.name)).toEqual(Object.keys(TAGS));
  });

  it('a route declared without apiRoute fails with its method and path named', () => {
    const problems = contractProblems('GET /api/v1/clock', {
      responses: { 200: { content: { 'application/json': {} } } },
    });
    expect(problems).toContain(`GET /api/v1/clock: operationId (none) is not a camelCase name; ${HOW}`);
    expect(problems).toContain(
      `GET /api/v1/clock: no security requirement (security: [] for a public operation); ${HOW}`,
    );
    expect(problems).toContain(
      `GET /api/v1/clock: no 500 response (every operation can fail unexpectedly); ${HOW}`,
    );
    expect(problems).toContain(`GET /api/v1/clock: 200 response application/json has no example; ${HOW}`);
  });
});

describe('what the edge answers before any route runs is declared by every operation', () => {
  /** The operation's method and path, with a valid value for each path parameter (a symbol, or an id). */
  const request = ({ where }: (typeof operations)[number]) => {
    const [method, template] = where.split(' ') as [string, string];
    const path = template.replace(/\{([^}]+)\}/g, (_, name: string) =>
      name === 'symbol' ? 'AAPL' : '0b6f6d1e-6c1d-4a35-9f0e-2f6a1c9d7e42',
    );
    return { method, path };
  };
  /** Each operation probed: those that did not answer `expected` or do not declare it. */
  async function misses(
    ops: typeof operations,
    expected: number,
    probe: (method: string, path: string) => Promise<globalThis.Response>,
  ): Promise<string[]> {
    const out: string[] = [];
    for (const o of ops) {
      const { method, path } = request(o);
      const { status } = await probe(method, path);
      if (status !== expected || !(String(status) in o.op.responses))
        out.push(`${o.where}: ${status} (declares ${Object.keys(o.op.responses).join(', ')})`);
    }
    return out;
  }

  it('a NUL in the query string (422), a query string that is not UTF-8 (400), a non-printable Idempotency-Key or X-Request-Id (400)', async () => {
    const api = await createUnitApp();
    expect(await misses(operations, 422, (m, path) => api.call(m, `${path}?x=%00`))).toEqual([]);
    expect(await misses(operations, 400, (m, path) => api.call(m, `${path}?x=%ZZ`))).toEqual([]);
    for (const header of ['idempotency-key', 'x-request-id']) {
      const headers = { [header]: 'key\u0001' };
      expect(await misses(operations, 400, (m, path) => api.call(m, path, { headers }))).toEqual([]);
    }
    expect(api.touched).toEqual([]);
  });

  it('a body over BODY_LIMIT_BYTES on any request but a GET (413)', async () => {
    const api = await createUnitApp();
    const raw = 'x'.repeat(inertApp().config.BODY_LIMIT_BYTES + 1);
    const bodies = operations.filter((o) => !o.where.startsWith('GET '));
    expect(await misses(bodies, 413, (m, path) => api.call(m, path, { raw }))).toEqual([]);
    expect(api.touched).toEqual([]);
  });

  it('a body that is not JSON (415), login among them', async () => {
    const api = await createUnitApp();
    const withBody = operations.filter((o) => o.op.requestBody);
    expect(withBody.map((o) => o.where)).toContain('POST /api/v1/auth/login');
    const headers = { 'content-type': 'text/plain', 'idempotency-key': 'probe-415' };
    const probe = (m: string, path: string) =>
      api.call(m, path, { token: api.operatorToken, raw: '{}', headers });
    expect(await misses(withBody, 415, probe)).toEqual([]);
    expect(api.touched).toEqual([]);
  });
});
