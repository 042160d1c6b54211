/**
 * The market clock: is the market open now, and when does it next open and close (lib/sessions.ts, the
 * config's TRADING_CALENDAR). Public, like market data; not under /market/, where a symbol named CLOCK
 * would collide. During the last session of the calendar's data the next open is null; past it, 503
 * calendar_unavailable (api/calendar.ts).
 */
import { z } from '@hono/zod-openapi';
import { clock } from '../../lib/sessions.js';
import { apiCalendar, askCalendar } from '../calendar.js';
import { apiRoute, createRouter } from '../openapi.js';
import type { ApiDeps } from '../types.js';

const ClockSchema = z
  .object({
    timestamp: z.string().openapi({ description: 'Server time (ISO 8601, UTC)' }),
    is_open: z.boolean().openapi({ description: 'A trading session is in progress' }),
    next_open: z.string().nullable().openapi({
      description:
        "When the next session opens (after the current one, when open); null during the last session of the calendar's data",
    }),
    next_close: z
      .string()
      .openapi({ description: 'When the current (or, when closed, the next) session closes' }),
  })
  .openapi('Clock');

export function clockRoutes(deps: ApiDeps) {
  const app = createRouter();
  const calendar = apiCalendar(deps);
  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/clock',
      operationId: 'getClock',
      tag: 'market data',
      auth: 'public',
      // The calendar is data in the process: no dependency can be out, but its data can end (503).
      offline: true,
      errors: [503],
      summary: 'Market clock: open now, next open and close',
      description:
        "The exchange's calendar (TRADING_CALENDAR=nyse): 09:30-16:00 New York time on weekdays, without the exchange holidays, 13:00 closes on early-close days, daylight saving through the time zone. With TRADING_CALENDAR=24h (the simulator, demos, `npm start`) the market is always open and each session ends at a daily close, when DAY orders expire. While the market is closed, limit, stop and stop_limit orders are accepted for the next session; market, IOC and FOK orders are 422 `market_closed`. Past the end of the calendar's data, 503 `calendar_unavailable`.",
      responses: {
        200: {
          description: 'The clock',
          content: {
            'application/json': {
              schema: ClockSchema,
              examples: {
                open: {
                  summary: 'Monday at the open (09:30 New York, standard time)',
                  value: {
                    timestamp: '2026-03-02T14:30:00.000Z',
                    is_open: true,
                    next_open: '2026-03-03T14:30:00.000Z',
                    next_close: '2026-03-02T21:00:00.000Z',
                  },
                },
                closed: {
                  summary: 'A Saturday: Monday opens at 09:30 New York, daylight saving time by then',
                  value: {
                    timestamp: '2026-03-07T12:00:00.000Z',
                    is_open: false,
                    next_open: '2026-03-09T13:30:00.000Z',
                    next_close: '2026-03-09T20:00:00.000Z',
                  },
                },
                last: {
                  summary: "The last session of the calendar's data: the next open is not known",
                  value: {
                    timestamp: '2028-12-29T15:00:00.000Z',
                    is_open: true,
                    next_open: null,
                    next_close: '2028-12-29T21:00:00.000Z',
                  },
                },
              },
            },
          },
        },
      },
    }),
    (c) => {
      const t = askCalendar(() => clock(calendar, deps.now()));
      return c.json(
        {
          timestamp: t.timestamp.toISOString(),
          is_open: t.is_open,
          next_open: t.next_open?.toISOString() ?? null,
          next_close: t.next_close.toISOString(),
        },
        200,
      );
    },
  );
  return app;
}
