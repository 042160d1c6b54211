import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../../test/http.js';
import { clientBody } from '../../test/registration.js';
import { createUnitApp, type UnitApp } from '../../test/unit-app.js';
import { dateOfBirthError } from './clients.js';

describe('date of birth', () => {
  const now = new Date('2030-06-15T12:00:00Z');
  it('accepts adults and refuses minors, impossible dates and the distant past', () => {
    expect(dateOfBirthError('2012-06-15', now)).toBeUndefined();
    expect(dateOfBirthError('2012-06-16', now)).toMatch(/at least 18/);
    expect(dateOfBirthError('1990-02-30', now)).toMatch(/not a valid date/);
    expect(dateOfBirthError('1990-13-01', now)).toMatch(/not a valid date/);
    expect(dateOfBirthError('1850-01-01', now)).toMatch(/not a valid date/);
  });

  it('counts the 18th birthday from when it has begun everywhere (midnight at UTC-12, 12:00 UTC)', () => {
    // 2026-12-07 20:30 in New York: the birthday has begun in UTC, not yet in the Americas.
    expect(dateOfBirthError('2008-12-08', new Date('2026-12-08T01:30:00Z'))).toMatch(
      /at least 18 years old \(the 18th birthday counts from 12:00 UTC\)/,
    );
    expect(dateOfBirthError('2008-12-08', new Date('2026-12-08T11:59:59Z'))).toMatch(/at least 18/);
    expect(dateOfBirthError('2008-12-08', new Date('2026-12-08T12:00:00Z'))).toBeUndefined();
    // Born on 29 February: 18 on 1 March of a common year.
    expect(dateOfBirthError('2008-02-29', new Date('2026-02-28T23:00:00Z'))).toMatch(/at least 18/);
    expect(dateOfBirthError('2008-02-29', new Date('2026-03-01T12:00:00Z'))).toBeUndefined();
  });
});

// The app's database, Redis and mailer fail when touched (test/unit-app.ts): nothing can be created.
let api: UnitApp;
beforeAll(async () => (api = await createUnitApp()));
afterEach(() => expect(api.touched).toEqual([]));

const client = (over: Record<string, unknown> = {}) => clientBody('ada@example.test', over);
const register = (body: unknown) => api.call('POST', '/api/v1/clients/register', { body });

describe('POST /api/v1/clients/register: bad input is a clear 4xx before anything is read or created', () => {
  const codes: Record<number, string> = {
    400: 'bad_request',
    413: 'payload_too_large',
    422: 'validation_failed',
  };
  const cases: [string, unknown, number][] = [
    ['missing client object', { email: 'a@b.test' }, 400],
    ['client is not an object', { client: 'me' }, 400],
    ['missing fields', { client: { email: 'ada@example.test' } }, 422],
    ['extra field', { client: { ...client(), is_admin: true } }, 422],
    ['extra top-level field', { client: client(), role: 'admin' }, 422],
    ['wrong types', { client: { ...client(), password: 12345678, first_name: ['x'] } }, 422],
    ['bad email', { client: client({ email: 'not-an-email' }) }, 422],
    ['short password', { client: client({ password: 'short' }) }, 422],
    ['overlong password', { client: client({ password: 'x'.repeat(129) }) }, 422],
    ['impossible birth date', { client: client({ date_of_birth: '1990-02-30' }) }, 422],
    ['minor', { client: client({ date_of_birth: new Date().toISOString().slice(0, 10) }) }, 422],
    ['bad phone', { client: client({ phone: '<script>' }) }, 422],
    ['huge body', { client: client({ first_name: 'x'.repeat(100_000) }) }, 413],
  ];
  it.each(cases)('%s', async (_name, body, status) => {
    const problem = await expectProblem(await register(body), status, codes[status]);
    if (status === 422) expect(problem.errors?.length).toBeGreaterThan(0);
  });

  it('malformed JSON is a 400, an unknown route a 404', async () => {
    const raw = '{"client": {';
    const headers = { 'content-type': 'application/json' };
    await expectProblem(
      await api.call('POST', '/api/v1/clients/register', { raw, headers }),
      400,
      'bad_request',
    );
    await expectProblem(
      await api.call('POST', '/api/v1/clients/registr', { body: { client: client() } }),
      404,
      'not_found',
    );
  });

  it('lists every invalid field', async () => {
    const body = await expectProblem(
      await register({ client: { email: 'nope', password: 'x' } }),
      422,
      'validation_failed',
    );
    const errors = body.errors!.join('\n');
    for (const field of ['client.email', 'client.first_name', 'client.last_name', 'client.password'])
      expect(errors).toContain(field);
  });
});
