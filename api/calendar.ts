/**
 * The api's trading calendar (lib/sessions.ts): the injected one, else the config's TRADING_CALENDAR.
 * The calendar is data in the code up to its `lastDay` (docs/adr/0021-session-calendar.md); asked about
 * a session past that, it refuses instead of guessing. That is neither the client's fault nor a bug of
 * the request: every route that asks it (placement, replace, the clock) answers 503
 * `calendar_unavailable`, nothing written, until an operator extends the data and deploys. The
 * `trading_calendar_days_left` gauge and the TradingCalendarEnding alert warn 60 days ahead.
 */
import { calendarOf, NoCalendarDataError, type SessionCalendar } from '../lib/sessions.js';
import { ApiError } from './problem.js';
import type { ApiDeps } from './types.js';

/** Seconds a client should wait: the calendar comes back with a deploy, not within seconds. */
const RETRY_AFTER = 3600;

export const apiCalendar = (deps: Pick<ApiDeps, 'calendar' | 'config'>): SessionCalendar =>
  deps.calendar ?? calendarOf(deps.config);

/** The 503 problem for an instant past the calendar's data. */
export function calendarUnavailable(err: NoCalendarDataError): ApiError {
  return new ApiError(
    'calendar_unavailable',
    `The trading calendar has no sessions for now (${err.message}): orders and the market clock are unavailable until an operator extends the calendar's data (lib/sessions.ts)`,
    undefined,
    { 'retry-after': String(RETRY_AFTER) },
    { retry_after: RETRY_AFTER },
  );
}

/** Runs `ask` (anything that asks the calendar); a calendar without data for it is a 503, not a 500. */
export function askCalendar<T>(ask: () => T): T {
  try {
    return ask();
  } catch (err) {
    if (err instanceof NoCalendarDataError) throw calendarUnavailable(err);
    throw err;
  }
}
