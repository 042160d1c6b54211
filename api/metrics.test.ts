import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../lib/logger.js';
import { exchangeCalendar, twentyFourHourCalendar } from '../lib/sessions.js';
import { createApiMetrics, watchCalendar, watchKillSwitches } from './metrics.js';

describe('kill_switch_engaged', () => {
  it('keeps its last values when Postgres cannot be read, and the scrape still carries dependency_up', async () => {
    const metrics = createApiMetrics('api-ks');
    const logged: string[] = [];
    const logger = createLogger('warn', {}, { write: (line: string) => void logged.push(line) });
    let answer: () => Promise<{ scope: string }[]> = () => Promise.resolve([{ scope: 'GOOG' }]);
    watchKillSwitches(metrics, () => answer(), logger);
    const labels = 'process="api",instance_id="api-ks"';
    expect(await metrics.registry.metrics()).toContain(`kill_switch_engaged{scope="GOOG",${labels}} 1\n`);

    // Postgres down: what the dependency probe records, then two scrapes.
    metrics.dependencyUp.set({ dependency: 'postgres' }, 0);
    answer = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    for (let i = 0; i < 2; i++) {
      const text = await metrics.registry.metrics();
      expect(text).toContain(`dependency_up{dependency="postgres",${labels}} 0\n`);
      expect(text).toContain(`kill_switch_engaged{scope="GOOG",${labels}} 1\n`);
    }
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('ECONNREFUSED');

    // Back: the read's truth again, and the next failure is logged again.
    answer = () => Promise.resolve([]);
    expect(await metrics.registry.metrics()).not.toContain('kill_switch_engaged{');
    answer = () => Promise.reject(new Error('timeout'));
    await metrics.registry.metrics();
    expect(logged).toHaveLength(2);
  });

  describe('with a Postgres that never answers', () => {
    afterEach(() => void vi.useRealTimers());

    it('answers the scrape after the read time limit, with dependency_up and the last values', async () => {
      vi.useFakeTimers();
      const metrics = createApiMetrics('api-ks-hung');
      const logged: string[] = [];
      const logger = createLogger('warn', {}, { write: (line: string) => void logged.push(line) });
      let answer: () => Promise<{ scope: string }[]> = () => Promise.resolve([{ scope: '*' }]);
      watchKillSwitches(metrics, () => answer(), logger); // the default limit, as api/main.ts uses it
      const labels = 'process="api",instance_id="api-ks-hung"';
      expect(await metrics.registry.metrics()).toContain(`kill_switch_engaged{scope="*",${labels}} 1\n`);

      // Connected but never answering (a hung server, a lock): the read's promise never settles.
      metrics.dependencyUp.set({ dependency: 'postgres' }, 0);
      let reads = 0;
      answer = () => (reads++, new Promise(() => {}));
      let text: string | undefined;
      const scrape = metrics.registry.metrics().then((t) => (text = t));
      // The limit (2 s) is well under Prometheus' scrape timeout (5 s, ops/prometheus/prometheus.yml).
      await vi.advanceTimersByTimeAsync(2_000);
      expect(text).toBeDefined();
      await scrape;
      expect(text).toContain(`dependency_up{dependency="postgres",${labels}} 0\n`);
      expect(text).toContain(`kill_switch_engaged{scope="*",${labels}} 1\n`);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toContain('timeout');

      // The next scrape waits on the read still running instead of taking one more connection.
      const again = metrics.registry.metrics();
      await vi.advanceTimersByTimeAsync(2_000);
      expect(await again).toContain(`kill_switch_engaged{scope="*",${labels}} 1\n`);
      expect(reads).toBe(1);
    });
  });
});

describe('trading_calendar_days_left', () => {
  it("counts down to the close of the calendar's last session at each scrape; none for the 24-hour calendar", async () => {
    const metrics = createApiMetrics('api-cal');
    let now = new Date('2028-10-30T21:00:00Z'); // 60 days before the NYSE data's last close (2028-12-29 16:00 EST)
    watchCalendar(metrics, exchangeCalendar(), () => now);
    const labels = 'process="api",instance_id="api-cal"';
    expect(await metrics.registry.metrics()).toContain(`trading_calendar_days_left{${labels}} 60\n`);
    now = new Date('2028-12-29T09:00:00Z');
    expect(await metrics.registry.metrics()).toContain(`trading_calendar_days_left{${labels}} 0.5\n`);
    now = new Date('2028-12-30T21:00:00Z');
    expect(await metrics.registry.metrics()).toContain(`trading_calendar_days_left{${labels}} -1\n`);

    const always = createApiMetrics('api-24h');
    watchCalendar(always, twentyFourHourCalendar('21:00'), () => now);
    expect(await always.registry.metrics()).not.toContain('trading_calendar_days_left');
  });
});
