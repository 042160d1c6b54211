import { describe, expect, it } from 'vitest';
import { postgresErrorCode } from './client.js';

describe('postgresErrorCode', () => {
  const pgError = (code: string) => Object.assign(new Error('statement failed'), { code });

  it("reads the SQLSTATE of postgres.js's error, alone or as the cause of drizzle's", () => {
    expect(postgresErrorCode(pgError('23514'))).toBe('23514');
    expect(postgresErrorCode(new Error('Failed query', { cause: pgError('BXF01') }))).toBe('BXF01');
  });

  it('is undefined for an error that is not a statement’s, and for what is not an error', () => {
    expect(postgresErrorCode(new Error('boom'))).toBeUndefined();
    expect(postgresErrorCode({ code: '23514' })).toBeUndefined();
    expect(postgresErrorCode(undefined)).toBeUndefined();
  });
});
