import { describe, expect, it } from 'vitest';
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
});
