/**
 * Report input (executions, statement), answered before any I/O: the test app's database fails when
 * touched (test/unit-app.ts), so a bad filter, cursor or period never reaches a query. The reports on
 * real trades and the ledger are covered by reports.int.test.ts.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../../test/http.js';
import { createUnitApp, type UnitApp } from '../../test/unit-app.js';
import { encodeCursor, statementCsv } from './statement.js';

let api: UnitApp;
beforeAll(async () => (api = await createUnitApp()));
afterEach(() => expect(api.touched).toEqual([]));

const cursor = (text: string) => Buffer.from(text).toString('base64url');
const uuid = '00000000-0000-4000-8000-000000000000';

describe('GET /api/v1/executions and /api/v1/orders/{id}/executions: bad input is a 422 problem', () => {
  const cases: [string, string, string][] = [
    ['limit 0', '/api/v1/executions?limit=0', 'limit'],
    ['limit above 500', '/api/v1/executions?limit=501', 'limit'],
    ['from not a date-time', '/api/v1/executions?from=yesterday', 'from: must be an ISO 8601 date-time'],
    ['order_id not a uuid', '/api/v1/executions?order_id=nope', 'order_id: must be an order id (uuid)'],
    ['cursor garbage', '/api/v1/executions?cursor=garbage', 'cursor: is invalid'],
    ['cursor with bad ids', `/api/v1/executions?cursor=${cursor('1|x|y')}`, 'cursor: is invalid'],
    [
      'cursor with extra parts',
      `/api/v1/executions?cursor=${cursor(`1|${uuid}|${uuid}|x`)}`,
      'cursor: is invalid',
    ],
    [
      'empty period',
      '/api/v1/executions?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z',
      'from: must be before to',
    ],
    ['from in year 0', '/api/v1/executions?from=0000-01-01T00:00:00Z', 'from: must be between 1970-01-01'],
    [
      'to in year 9999 west of UTC (year 10000 in UTC)',
      '/api/v1/executions?to=9999-12-31T23:00:00-05:00',
      'to: must be between 1970-01-01',
    ],
    [
      'order page from in year 0',
      `/api/v1/orders/${uuid}/executions?from=0000-01-01T00:00:00Z`,
      'from: must be between 1970-01-01',
    ],
    ['order id not a uuid', '/api/v1/orders/not-a-uuid/executions', 'id: must be an order id (uuid)'],
    ['order page cursor garbage', `/api/v1/orders/${uuid}/executions?cursor=garbage`, 'id'],
  ];
  it.each(cases)('%s', async (_name, path, error) => {
    const p = await expectProblem(
      await api.call('GET', path, { token: api.token }),
      422,
      'validation_failed',
    );
    if (error !== 'id') expect(p.errors!.join(' ')).toContain(error);
  });

  it('needs a bearer token', async () => {
    await expectProblem(await api.call('GET', '/api/v1/executions'), 401, 'unauthorized');
    await expectProblem(await api.call('GET', `/api/v1/orders/${uuid}/executions`), 401, 'unauthorized');
  });
});

describe('GET /api/v1/statement: a bad period is a 422 problem', () => {
  const cases: [string, string, string][] = [
    ['empty period', 'from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'from: must be before to'],
    ['not a date-time', 'from=last-week', 'from: must be an ISO 8601 date-time'],
    [
      'a period in year 0',
      'from=0000-01-01T00:00:00Z&to=0000-06-01T00:00:00Z',
      'from: must be between 1970-01-01 and 9999-12-31',
    ],
    [
      'over a year',
      'from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z',
      'to: a statement spans at most 366 days',
    ],
    ['limit 0', 'limit=0', 'limit'],
    ['limit above 2000', 'limit=2001', 'limit'],
    ['cursor garbage', 'cursor=garbage', 'cursor: is invalid'],
    // A well-formed cursor signed with another key (or for another account): its balances are not ours.
    [
      'cursor not signed by this api',
      `cursor=${encodeCursor('not-the-api-signing-key-secret-at-all', uuid, {
        from: new Date('2026-01-01T00:00:00Z'),
        to: new Date('2026-01-02T00:00:00Z'),
        key: { postedAtMicros: 1767225600000000n, entryId: 7n, asset: 'USD' },
        balances: { USD: { available: 100_000_000n, reserved: 0n } },
      })}`,
      'cursor: is invalid',
    ],
    ['cursor without its signature', `cursor=${cursor('0|1|1|7|USD|')}`, 'cursor: is invalid'],
  ];
  it.each(cases)('%s', async (_name, query, error) => {
    const p = await expectProblem(
      await api.call('GET', `/api/v1/statement?${query}`, { token: api.token }),
      422,
      'validation_failed',
    );
    expect(p.errors!.join(' ')).toContain(error);
  });

  it('needs a bearer token', async () => {
    await expectProblem(await api.call('GET', '/api/v1/statement'), 401, 'unauthorized');
  });
});

describe('statementCsv', () => {
  it('dates the opening and closing only on the first and last pages (empty on the pages between)', () => {
    const asset = {
      asset: 'USD',
      opening: { available: 100n, reserved: 0n },
      lines: [],
      closing: { available: 100n, reserved: 0n },
    };
    expect(statementCsv(undefined, undefined, [asset]).split('\r\n').slice(1, 3)).toEqual([
      'USD,opening,,,,,,,,1.00,0.00,1.00',
      'USD,closing,,,,,,,,1.00,0.00,1.00',
    ]);
  });

  it('writes opening, postings and closing per asset with exact decimals, cash in dollars and shares whole', () => {
    const at = new Date('2026-01-01T10:00:00.000Z');
    const csv = statementCsv(new Date('2026-01-01T00:00:00Z'), new Date('2026-01-02T00:00:00Z'), [
      {
        asset: 'USD',
        opening: { available: 5n, reserved: 0n },
        lines: [
          {
            entryId: 7n,
            kind: 'reserve',
            reference: 'a,"b"',
            postedAt: at,
            postedAtMicros: BigInt(at.getTime()) * 1000n,
            change: { available: -105n, reserved: 105n },
            balance: { available: -100n, reserved: 105n },
          },
        ],
        closing: { available: -100n, reserved: 105n },
      },
      {
        asset: 'AAPL',
        opening: { available: 3n, reserved: 0n },
        lines: [],
        closing: { available: 3n, reserved: 0n },
      },
    ]);
    expect(csv.split('\r\n')).toEqual([
      'asset,line,posted_at,entry_id,kind,reference,available_change,reserved_change,change,available,reserved,balance',
      'USD,opening,2026-01-01T00:00:00.000Z,,,,,,,0.05,0.00,0.05',
      'USD,posting,2026-01-01T10:00:00.000Z,7,reserve,"a,""b""",-1.05,1.05,0.00,-1.00,1.05,0.05',
      'USD,closing,2026-01-02T00:00:00.000Z,,,,,,,-1.00,1.05,0.05',
      'AAPL,opening,2026-01-01T00:00:00.000Z,,,,,,,3,0,3',
      'AAPL,closing,2026-01-02T00:00:00.000Z,,,,,,,3,0,3',
      '',
    ]);
  });
});
