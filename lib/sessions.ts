/**
 * Trading sessions: when an exchange trades. The exchange calendar (NYSE, `America/New_York`) has
 * regular hours 09:30-16:00 on weekdays, without the exchange holidays, closing at 13:00 on early-close
 * days; both lists are data below for 2026 to 2028. Local times become instants through the time zone
 * (Intl, the runtime's ICU data), so daylight saving needs no offsets here (docs/adr/0021-session-calendar.md).
 *
 * The 24-hour calendar (simulator, demos, `npm start`) is always open; its sessions run from one daily
 * close (HH:MM[:SS] UTC) to the next, so DAY orders still expire once a day. Tests inject calendars of
 * their own (`fixedSessions`), e.g. a session that closes in seconds.
 */

export interface Session {
  open: Date;
  close: Date;
}

export interface SessionCalendar {
  /**
   * The session in progress at `t` (open <= t < close), or else the next one to open; a calendar whose
   * data ends before that session throws `NoCalendarDataError`.
   */
  sessionAt(t: Date): Session;
  /** Where the calendar's data ends (the close of its last session); none when it never ends. */
  dataEnds?: Date;
}

/** The calendar has no data for the session asked for (past its `lastDay`): refused, not guessed. */
export class NoCalendarDataError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'NoCalendarDataError';
  }
}

export const isOpen = (cal: SessionCalendar, t: Date): boolean => {
  const s = cal.sessionAt(t);
  return s.open <= t && t < s.close;
};

/**
 * `GET /api/v1/clock`: whether the market is open and its next open and close. During the calendar's
 * last session the next open is not known (`null`); past it, `sessionAt` throws `NoCalendarDataError`.
 */
export function clock(cal: SessionCalendar, t: Date) {
  const s = cal.sessionAt(t);
  const open = s.open <= t && t < s.close;
  return {
    timestamp: t,
    is_open: open,
    next_open: open ? nextOpen(cal, s) : s.open,
    next_close: s.close,
  };
}

/** The open of the session after `s`, or null when the calendar's data ends with `s`. */
function nextOpen(cal: SessionCalendar, s: Session): Date | null {
  try {
    return cal.sessionAt(s.close).open;
  } catch (err) {
    if (err instanceof NoCalendarDataError) return null;
    throw err;
  }
}

export interface ExchangeCalendarData {
  timeZone: string;
  open: string;
  close: string;
  earlyClose: string;
  /** Full-day closures, YYYY-MM-DD in the exchange's time zone. */
  holidays: readonly string[];
  /** Days that close at `earlyClose`. */
  earlyCloses: readonly string[];
  /** The calendar covers days up to this one (inclusive): later days are refused, not guessed. */
  lastDay: string;
}

/**
 * NYSE 2026-2028 (holidays and early closes: 2026 and 2027 as published by the exchange, 2028 derived
 * from its rules: a Saturday holiday is observed the Friday before, except New Year's Day, which is then
 * not observed; a Sunday holiday the Monday after). Extend it before `lastDay` comes near: the api's
 * `trading_calendar_days_left` gauge and the TradingCalendarEnding alert count down to it.
 */
export const NYSE: ExchangeCalendarData = {
  timeZone: 'America/New_York',
  open: '09:30',
  close: '16:00',
  earlyClose: '13:00',
  holidays: [
    '2026-01-01', // New Year's Day
    '2026-01-19', // Martin Luther King, Jr. Day
    '2026-02-16', // Washington's Birthday
    '2026-04-03', // Good Friday
    '2026-05-25', // Memorial Day
    '2026-06-19', // Juneteenth
    '2026-07-03', // Independence Day (observed)
    '2026-09-07', // Labor Day
    '2026-11-26', // Thanksgiving Day
    '2026-12-25', // Christmas Day
    '2027-01-01', // New Year's Day
    '2027-01-18', // Martin Luther King, Jr. Day
    '2027-02-15', // Washington's Birthday
    '2027-03-26', // Good Friday
    '2027-05-31', // Memorial Day
    '2027-06-18', // Juneteenth (observed)
    '2027-07-05', // Independence Day (observed)
    '2027-09-06', // Labor Day
    '2027-11-25', // Thanksgiving Day
    '2027-12-24', // Christmas Day (observed)
    // 2028-01-01 is a Saturday: New Year's Day is not observed on Friday 2027-12-31.
    '2028-01-17', // Martin Luther King, Jr. Day
    '2028-02-21', // Washington's Birthday
    '2028-04-14', // Good Friday (Easter is 2028-04-16)
    '2028-05-29', // Memorial Day
    '2028-06-19', // Juneteenth
    '2028-07-04', // Independence Day
    '2028-09-04', // Labor Day
    '2028-11-23', // Thanksgiving Day
    '2028-12-25', // Christmas Day
  ],
  earlyCloses: [
    '2026-11-27', // the day after Thanksgiving
    '2026-12-24', // Christmas Eve
    '2027-11-26', // the day after Thanksgiving
    '2028-07-03', // the day before Independence Day
    '2028-11-24', // the day after Thanksgiving
    // 2028-12-24 is a Sunday: no early close.
  ],
  lastDay: '2028-12-31',
};

const DAY_MS = 86_400_000;

/** The day (YYYY-MM-DD) `n` days after `day`. */
function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y!, m! - 1, d) + n * DAY_MS).toISOString().slice(0, 10);
}

/** The offset (ms) of `timeZone` from UTC at instant `t`. */
function zoneOffset(fmt: Intl.DateTimeFormat, t: number): number {
  const p = Object.fromEntries(fmt.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  const local = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour! % 24, +p.minute!, +p.second!);
  return local - Math.floor(t / 1000) * 1000;
}

export function exchangeCalendar(data: ExchangeCalendarData = NYSE): SessionCalendar {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: data.timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const dayFmt = new Intl.DateTimeFormat('en-CA', {
    timeZone: data.timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
  const holidays = new Set(data.holidays);
  const early = new Set(data.earlyCloses);
  /** The instant of local `hh:mm` on local day `day` (YYYY-MM-DD) in the exchange's zone. */
  const at = (day: string, hhmm: string): Date => {
    const [y, m, d] = day.split('-').map(Number);
    const [h, mi] = hhmm.split(':').map(Number);
    const guess = Date.UTC(y!, m! - 1, d, h, mi);
    let t = guess - zoneOffset(fmt, guess);
    t = guess - zoneOffset(fmt, t); // again at the result: right across a DST change
    return new Date(t);
  };
  const session = (day: string): Session | undefined => {
    const [y, m, d] = day.split('-').map(Number);
    const weekday = new Date(Date.UTC(y!, m! - 1, d)).getUTCDay();
    if (weekday === 0 || weekday === 6 || holidays.has(day)) return undefined;
    return { open: at(day, data.open), close: at(day, early.has(day) ? data.earlyClose : data.close) };
  };
  // The data ends with the last session on or before lastDay: past its close, sessionAt throws.
  let last = data.lastDay;
  for (let i = 0; i < 15 && !session(last); i++) last = addDays(last, -1);
  return {
    dataEnds: session(last)?.close,
    sessionAt(t) {
      // From the exchange's local day at t: today's session unless it has closed, else the next one.
      let day = dayFmt.format(t);
      for (let i = 0; i < 15; i++) {
        if (day > data.lastDay)
          throw new NoCalendarDataError(`the ${data.timeZone} calendar has no data after ${data.lastDay}`);
        const s = session(day);
        if (s && t < s.close) return s;
        day = addDays(day, 1);
      }
      throw new RangeError(`no session within 15 days of ${t.toISOString()}`);
    },
  };
}

/** Always open; sessions run from one daily close (HH:MM or HH:MM:SS, UTC) to the next. */
export function twentyFourHourCalendar(closeUtc: string): SessionCalendar {
  const [h = 0, m = 0, s = 0] = closeUtc.split(':').map(Number);
  return {
    sessionAt(t) {
      const close = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate(), h, m, s));
      if (close <= t) close.setUTCDate(close.getUTCDate() + 1);
      return { open: new Date(close.getTime() - DAY_MS), close };
    },
  };
}

/** Given sessions in time order (tests): after the last one, nothing opens again. */
export function fixedSessions(sessions: readonly Session[]): SessionCalendar {
  return {
    dataEnds: sessions.at(-1)?.close,
    sessionAt(t) {
      const s = sessions.find((x) => t < x.close);
      if (!s) throw new NoCalendarDataError(`no session after ${t.toISOString()}`);
      return s;
    },
  };
}

/** The calendar the config names (TRADING_CALENDAR, SESSION_CLOSE_UTC). */
export const calendarOf = (c: {
  TRADING_CALENDAR: 'nyse' | '24h';
  SESSION_CLOSE_UTC: string;
}): SessionCalendar =>
  c.TRADING_CALENDAR === 'nyse' ? exchangeCalendar(NYSE) : twentyFourHourCalendar(c.SESSION_CLOSE_UTC);
