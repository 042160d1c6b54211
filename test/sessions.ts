/**
 * A trading calendar for DAY-expiry tests whose close does not race the test: open, with its close a
 * day away, until `closeSoon()`; the next time the api asks (the DAY order's placement), the session
 * closes `ms` after that moment. The order is therefore accepted in its session however slow the machine,
 * and its saga's timer fires at most `ms` after it was placed. Past that close, the next session opens
 * a day later.
 */
import type { SessionCalendar } from '../lib/sessions.js';

const DAY_MS = 86_400_000;

export function closingCalendar(ms = 2_000): SessionCalendar & { closeSoon(): void } {
  const open = new Date(Date.now() - 60_000);
  let armed = false;
  let close: Date | undefined;
  return {
    closeSoon: () => void (armed = true),
    sessionAt(t) {
      if (armed && !close) close = new Date(t.getTime() + ms);
      if (!close) return { open, close: new Date(t.getTime() + DAY_MS) };
      if (t < close) return { open, close };
      return { open: new Date(close.getTime() + DAY_MS), close: new Date(close.getTime() + 2 * DAY_MS) };
    },
  };
}
