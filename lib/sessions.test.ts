import { describe, expect, it } from 'vitest';
import {
  clock,
  exchangeCalendar,
  fixedSessions,
  isOpen,
  NoCalendarDataError,
  twentyFourHourCalendar,
} from './sessions.js';

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
    expect(() => nyse.sessionAt(at('2029-01-02T15:00:00Z'))).toThrow(/no data after 2028-12-31/);
    expect(() => nyse.sessionAt(at('2029-01-02T15:00:00Z'))).toThrow(NoCalendarDataError);
  });

  it('2028: its holidays and early closes, derived from the exchange rules', () => {
    // New Year's Day 2028 is a Saturday and not observed: Friday 2027-12-31 trades, Monday 2028-01-03 next.
    expect(session('2027-12-31T15:00:00Z')).toEqual(['2027-12-31T14:30:00.000Z', '2027-12-31T21:00:00.000Z']);
    expect(session('2027-12-31T21:00:00Z')).toEqual(['2028-01-03T14:30:00.000Z', '2028-01-03T21:00:00.000Z']);
    // Each full-day closure: the session after the day before is the one after the holiday.
    const after: [string, string][] = [
      ['2028-01-14T22:00:00Z', '2028-01-18'], // Martin Luther King, Jr. Day, Monday 01-17
      ['2028-02-18T22:00:00Z', '2028-02-22'], // Washington's Birthday, Monday 02-21
      ['2028-04-13T22:00:00Z', '2028-04-17'], // Good Friday 04-14 (Easter Sunday 04-16)
      ['2028-05-26T22:00:00Z', '2028-05-30'], // Memorial Day, Monday 05-29
      ['2028-06-16T22:00:00Z', '2028-06-20'], // Juneteenth, Monday 06-19
      ['2028-07-03T20:00:00Z', '2028-07-05'], // Independence Day, Tuesday 07-04
      ['2028-09-01T22:00:00Z', '2028-09-05'], // Labor Day, Monday 09-04
      ['2028-11-22T22:00:00Z', '2028-11-24'], // Thanksgiving Day, Thursday 11-23
      ['2028-12-22T22:00:00Z', '2028-12-26'], // Christmas Day, Monday 12-25
    ];
    for (const [t, next] of after) expect(session(t)[0]!.slice(0, 10), t).toBe(next);
    // Early closes at 13:00 (EDT in July: 17:00 UTC; EST in November: 18:00 UTC).
    expect(session('2028-07-03T15:00:00Z')).toEqual(['2028-07-03T13:30:00.000Z', '2028-07-03T17:00:00.000Z']);
    expect(session('2028-11-24T15:00:00Z')).toEqual(['2028-11-24T14:30:00.000Z', '2028-11-24T18:00:00.000Z']);
    // Christmas Eve is a Sunday: Friday 12-22 closes at 16:00.
    expect(session('2028-12-22T15:00:00Z')).toEqual(['2028-12-22T14:30:00.000Z', '2028-12-22T21:00:00.000Z']);
  });

  it('knows where its data ends: the close of the last session', () => {
    expect(nyse.dataEnds).toEqual(at('2028-12-29T21:00:00Z'));
    expect(() => nyse.sessionAt(at('2028-12-29T21:00:00Z'))).toThrow(NoCalendarDataError);
    expect(twentyFourHourCalendar('21:00').dataEnds).toBeUndefined();
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

  it('the clock answers through the last session of its data: the next open is not known (null)', () => {
    // 2027-12-31, once the last data day: the next open is 2028's first session.
    expect(clock(nyse, at('2027-12-31T15:00:00Z'))).toMatchObject({
      is_open: true,
      next_open: at('2028-01-03T14:30:00Z'),
    });
    expect(clock(nyse, at('2028-12-29T15:00:00Z'))).toEqual({
      timestamp: at('2028-12-29T15:00:00Z'),
      is_open: true,
      next_open: null,
      next_close: at('2028-12-29T21:00:00Z'),
    });
    // Before the open of that session, too, the clock knows it.
    expect(clock(nyse, at('2028-12-29T12:00:00Z'))).toMatchObject({
      is_open: false,
      next_open: at('2028-12-29T14:30:00Z'),
    });
    // Past its close the calendar has nothing to answer.
    expect(() => clock(nyse, at('2028-12-29T21:00:00Z'))).toThrow(NoCalendarDataError);
    const last = fixedSessions([{ open: at('2026-01-01T00:00:00Z'), close: at('2026-01-01T00:00:05Z') }]);
    expect(clock(last, at('2026-01-01T00:00:01Z')).next_open).toBeNull();
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
    expect(cal.dataEnds).toEqual(at('2026-01-01T00:00:05Z'));
  });
});
