import { describe, expect, it } from 'vitest';
import { clock, exchangeCalendar, fixedSessions, isOpen, twentyFourHourCalendar } from './sessions.js';

const nyse = exchangeCalendar();
const at = (iso: string) => new Date(iso);
const session = (iso: string) => {
  const s = nyse.sessionAt(at(iso));
  return [s.open.toISOString(), s.close.toISOString()];
};

describe('the NYSE calendar', () => {
  it('opens 09:30-16:00 New York time, in UTC through daylight saving (EST then EDT)', () => {
    expect(session('2026-03-06T15:00:00Z')).toEqual(['2026-03-06T14:30:00.000Z', '2026-03-06T21:00:00.000Z']);
    // DST began on Sunday 2026-03-08: the same local hours are an hour earlier in UTC.
    expect(session('2026-03-09T15:00:00Z')).toEqual(['2026-03-09T13:30:00.000Z', '2026-03-09T20:00:00.000Z']);
    // ... and end on Sunday 2026-11-01.
    expect(session('2026-11-02T12:00:00Z')).toEqual(['2026-11-02T14:30:00.000Z', '2026-11-02T21:00:00.000Z']);
  });

  it('skips weekends and holidays, and closes early on early-close days', () => {
    // Friday evening: the next session is Monday's.
    expect(session('2026-03-06T21:00:00Z')).toEqual(['2026-03-09T13:30:00.000Z', '2026-03-09T20:00:00.000Z']);
    // Independence Day observed on Friday 2026-07-03.
    expect(session('2026-07-02T20:00:00Z')).toEqual(['2026-07-06T13:30:00.000Z', '2026-07-06T20:00:00.000Z']);
    // Thanksgiving 2026-11-26, then the day after closes at 13:00 (EST: 18:00 UTC).
    expect(session('2026-11-25T22:00:00Z')).toEqual(['2026-11-27T14:30:00.000Z', '2026-11-27T18:00:00.000Z']);
    // Christmas 2027 is observed on Friday 2027-12-24.
    expect(session('2027-12-23T22:00:00Z')).toEqual(['2027-12-27T14:30:00.000Z', '2027-12-27T21:00:00.000Z']);
  });

  it('is open inside a session only, and refuses days past its data', () => {
    expect(isOpen(nyse, at('2026-12-01T15:00:00Z'))).toBe(true);
    expect(isOpen(nyse, at('2026-12-01T14:29:59Z'))).toBe(false);
    expect(isOpen(nyse, at('2026-12-01T21:00:00Z'))).toBe(false);
    expect(isOpen(nyse, at('2026-12-05T15:00:00Z'))).toBe(false); // Saturday
    expect(() => nyse.sessionAt(at('2028-01-03T15:00:00Z'))).toThrow(/no data after 2027-12-31/);
  });

  it('the clock names the next open and close', () => {
    expect(clock(nyse, at('2026-12-01T15:00:00Z'))).toEqual({
      timestamp: at('2026-12-01T15:00:00Z'),
      is_open: true,
      next_open: at('2026-12-02T14:30:00Z'),
      next_close: at('2026-12-01T21:00:00Z'),
    });
    expect(clock(nyse, at('2026-12-04T22:00:00Z'))).toMatchObject({
      is_open: false,
      next_open: at('2026-12-07T14:30:00Z'),
      next_close: at('2026-12-07T21:00:00Z'),
    });
  });
});

describe('other calendars', () => {
  it('the 24-hour calendar is always open; its sessions end at the daily close', () => {
    const cal = twentyFourHourCalendar('21:00');
    expect(isOpen(cal, at('2026-12-05T03:00:00Z'))).toBe(true);
    expect(cal.sessionAt(at('2026-12-05T21:00:00Z')).close).toEqual(at('2026-12-06T21:00:00Z'));
    expect(cal.sessionAt(at('2026-12-05T20:59:59Z')).close).toEqual(at('2026-12-05T21:00:00Z'));
  });

  it('fixed sessions (tests) are used as given', () => {
    const cal = fixedSessions([{ open: at('2026-01-01T00:00:00Z'), close: at('2026-01-01T00:00:05Z') }]);
    expect(isOpen(cal, at('2026-01-01T00:00:01Z'))).toBe(true);
    expect(() => cal.sessionAt(at('2026-01-01T00:00:05Z'))).toThrow(/no session/);
  });
});
