/**
 * Fuzzing every operation of the OpenAPI document (/openapi.json) with hostile strings and numbers: NUL
 * bytes, lone surrogates, huge and negative numbers, long strings, injection payloads, in every path
 * parameter, query parameter and JSON body field (generated from the operation's schema). No answer may
 * be a 5xx, every error must be problem+json, and no error body may carry a stack trace or an internal name.
 * The auth rate limits are raised for the run, and most requests must reach validation (not a 429).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../test/helpers.js';
import { clientBody } from '../test/registration.js';
import { registerVerifiedUser, type TestUser } from '../test/users.js';

type Schema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
};
interface Operation {
  security?: unknown[];
  parameters?: { name: string; in: 'path' | 'query' | 'header'; schema?: Schema }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}
type Doc = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
};

const RUNS_PER_OPERATION = 12;
/** What a body must never show: stack frames, file paths, library and database internals. */
const INTERNAL =
  /node_modules|\/work\/|\.ts:\d+|\bat [\w.<>$]+ \(|drizzle|postgres|ioredis|SQLSTATE|syntax error at|duplicate key|TypeError|ReferenceError/i;

const hostileString = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfff',
    '💥\u0000',
    "'; DROP TABLE users; --",
    '%00',
    '../../etc/passwd',
    '${jndi:ldap://127.0.0.1/a}',
    '<script>alert(1)</script>',
    '__proto__',
    '9'.repeat(400),
    'x'.repeat(5000),
    '\u202e\ufeff',
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map((s) => `${s}\u0000`),
);
const hostileNumber = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    -0,
    1e15,
    1e21,
    2 ** 63,
    -(2 ** 63),
    Number.MAX_SAFE_INTEGER,
    1e308,
    0.005,
    123456789.123456,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

function arbitrary(schema: Schema | undefined, doc: Doc, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 5) return hostileString;
  if (schema.$ref) return arbitrary(doc.components?.schemas?.[schema.$ref.split('/').pop()!], doc, depth + 1);
  const variants = schema.anyOf ?? schema.oneOf ?? schema.allOf;
  if (variants?.length) return fc.oneof(...variants.map((v) => arbitrary(v, doc, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'object' || schema.properties) {
    const props = Object.fromEntries(
      Object.entries(schema.properties ?? {}).map(([k, v]) => [k, arbitrary(v, doc, depth + 1)]),
    );
    return fc.record(props, { requiredKeys: Object.keys(props) });
  }
  if (type === 'array')
    return fc.array(arbitrary(schema.items, doc, depth + 1), { minLength: 1, maxLength: 3 });
  if (type === 'integer' || type === 'number') return fc.oneof(hostileNumber, hostileString);
  if (type === 'boolean') return fc.oneof(fc.boolean(), hostileString);
  return hostileString;
}

/** Percent-encode as a client would; a lone surrogate has no UTF-8 form, so it goes out as raw bytes. */
function encode(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  try {
    return encodeURIComponent(text);
  } catch {
    return `${encodeURIComponent(text.replace(/[\ud800-\udfff]/g, ''))}%ED%A0%80`;
  }
}

describe('fuzzing every operation of the OpenAPI document', () => {
  let api: TestApi;
  let user: TestUser;
  let doc: Doc;

  beforeAll(async () => {
    api = await createTestApi({ AUTH_ADDRESS_LIMIT_MULTIPLIER: '10000' });
    user = await registerVerifiedUser(api);
    doc = (await (await api.call('GET', '/openapi.json')).json()) as Doc;
  }, 60_000);
  afterAll(() => api?.close());

  it('answers hostile requests with 4xx problem+json, never a 5xx or an internal detail', async () => {
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let operations = 0;
    let seed = 1;
    let requests = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        operations++;
        const params = op.parameters ?? [];
        const body = op.requestBody?.content?.['application/json']?.schema;
        const request = fc.record({
          path: fc.tuple(...params.filter((p) => p.in === 'path').map(() => hostileString)),
          query: fc.tuple(...params.filter((p) => p.in === 'query').map(() => hostileString)),
          body: body ? arbitrary(body, doc) : fc.constant(undefined),
        });
        for (const sample of fc.sample(request, { numRuns: RUNS_PER_OPERATION, seed: seed++ })) {
          let i = 0;
          const url = path.replace(/\{[^}]+\}/g, () => encode(sample.path[i++]));
          const query = params
            .filter((p) => p.in === 'query')
            .map((p, j) => `${p.name}=${encode(sample.query[j])}`)
            .join('&');
          // Logout with the shared token would end the session the other operations use.
          const token = op.security?.length && !path.endsWith('/logout') ? user.token : undefined;
          const res = await api.call(method.toUpperCase(), query ? `${url}?${query}` : url, {
            token,
            ...(sample.body === undefined ? {} : { body: sample.body }),
            headers: { 'idempotency-key': `fuzz-${++requests}` },
          });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const what = `${method.toUpperCase()} ${path} -> ${res.status}: ${text.slice(0, 200)}`;
          if (res.status >= 500) failures.push(what);
          else if (
            res.status >= 400 &&
            !res.headers.get('content-type')?.includes('application/problem+json')
          )
            failures.push(`not problem+json: ${what}`);
          if (res.status >= 400 && INTERNAL.test(text)) failures.push(`internal detail: ${what}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(operations).toBeGreaterThan(25);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    const limited = statuses.get(429) ?? 0;
    // A run answered by 429s proves nothing: most requests must have reached validation.
    expect(limited / total).toBeLessThan(0.05);
    expect((statuses.get(422) ?? 0) + (statuses.get(400) ?? 0)).toBeGreaterThan(total / 2);
  }, 300_000);

  it('answers the inputs that once reached Postgres (22021, 22P02, 22008) with 422, not a 500', async () => {
    const cursor = (text: string) => Buffer.from(text).toString('base64url');
    const uuid = '00000000-0000-4000-8000-000000000000';
    const asJson = (body: unknown) => ({ body, headers: { 'content-type': 'application/JSON' } });
    const cases: [string, string, Parameters<TestApi['call']>[2]][] = [
      ['GET', '/api/v1/orders?symbol=A=%00', { token: user.token }],
      ['POST', '/api/v1/auth/login', asJson({ email: 'a\u0000@example.test', password: 'x' })],
      [
        'POST',
        '/api/v1/clients/register',
        asJson({ client: clientBody('nul@example.test', { first_name: 'Ada\u0000' }) }),
      ],
      [
        'GET',
        `/api/v1/orders?cursor=${cursor(`2026-03-02T14:30:00.000Z|${'-'.repeat(36)}`)}`,
        { token: user.token },
      ],
      [
        'GET',
        `/api/v1/orders?cursor=${cursor(`-000001-01-01T00:00:00.000Z|${uuid}`)}`,
        { token: user.token },
      ],
      ['GET', '/api/v1/executions?from=0000-01-01T00:00:00Z', { token: user.token }],
      ['GET', '/api/v1/statement?from=0000-01-01T00:00:00Z&to=0000-06-01T00:00:00Z', { token: user.token }],
    ];
    const answers = [];
    for (const [method, path, opts] of cases) {
      const res = await api.call(method, path, opts);
      const body = (await res.json()) as { code?: string };
      const problem = res.headers.get('content-type')?.includes('application/problem+json');
      answers.push({ path, status: res.status, code: body.code, problem });
    }
    expect(answers).toEqual(
      cases.map(([, path]) => ({ path, status: 422, code: 'validation_failed', problem: true })),
    );
  });
});
