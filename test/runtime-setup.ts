/**
 * Install the Temporal SDK runtime of a test process before anything connects or replays, so the SDK
 * logs through our logger, quietly, instead of printing worker state changes into the test output.
 * The integration project runs this file first in every test file (vitest `setupFiles`), at the levels
 * test/global-setup.ts passes down; a unit test that runs the SDK imports it for its side effect.
 * `TEST_LOG_LEVEL` (default silent) and `TEMPORAL_LOG_LEVEL` turn the lines on when debugging.
 */
import { inject } from 'vitest';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { installRuntime } from '../lib/temporal-runtime.js';

const provided = inject('env') as Record<string, string> | undefined; // undefined in the unit project
const config = loadConfig(provided ?? process.env);
installRuntime({
  logger: createLogger(provided ? config.LOG_LEVEL : config.TEST_LOG_LEVEL, { service: 'test' }),
  logLevel: config.TEMPORAL_LOG_LEVEL,
  service: 'test',
  instance: config.INSTANCE_ID,
});
