/**
 * The Temporal SDK runtime of a process (api, workers, test processes): installed once, before the first
 * connection, with the SDK's logs (its TypeScript side and, forwarded, its Rust core) written through our
 * logger as JSON lines at `TEMPORAL_LOG_LEVEL`, instead of the SDK's multi-line stderr output.
 */
import type { Logger as SdkLogger, LogLevel as SdkLogLevel, LogMetadata } from '@temporalio/common';
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { LogLevel, Logger } from './logger.js';

const SEVERITY: Record<LogLevel, number> = { debug: 1, info: 2, warn: 3, error: 4, silent: 5 };
const FROM_SDK: Record<SdkLogLevel, Exclude<LogLevel, 'silent'>> = {
  TRACE: 'debug',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};
const TO_SDK: Record<Exclude<LogLevel, 'silent'>, SdkLogLevel> = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
};

/** The SDK's Logger interface on top of ours: lines below `level` are dropped, the rest keep their metadata. */
export function sdkLogger(logger: Logger, level: LogLevel): SdkLogger {
  const log = (sdkLevel: SdkLogLevel, message: string, meta?: LogMetadata) => {
    const ours = FROM_SDK[sdkLevel];
    if (SEVERITY[ours] >= SEVERITY[level]) logger[ours](message, meta);
  };
  return {
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
}

export interface RuntimeInstallOptions {
  logger: Logger;
  /** TEMPORAL_LOG_LEVEL: the SDK's own lines below it are dropped (core filters at the source). */
  logLevel: LogLevel;
  service: string;
  instance: string;
  /** With a port > 0 the SDK's own metrics (task latencies, slots, poll results, cache) are served for
   * Prometheus there, prefixed `temporal_`. */
  sdkMetricsPort?: number;
  /** Signals on which the SDK shuts its workers down (default: none, the process handles them). */
  shutdownSignals?: NodeJS.Signals[];
}

let installed = false;

/** Install the runtime once per process; later calls (a test file's api and workers) change nothing. */
export function installRuntime(opts: RuntimeInstallOptions): void {
  if (installed) return;
  installed = true;
  const coreLevel = TO_SDK[opts.logLevel === 'silent' ? 'error' : opts.logLevel];
  const sdkMetricsPort = opts.sdkMetricsPort ?? 0;
  const options: RuntimeOptions = {
    logger: sdkLogger(opts.logger.child({ component: 'temporal-sdk' }), opts.logLevel),
    shutdownSignals: opts.shutdownSignals ?? [],
    telemetryOptions: {
      logging: { filter: { core: coreLevel, other: 'ERROR' }, forward: {} },
      ...(sdkMetricsPort > 0
        ? {
            metrics: {
              metricPrefix: 'temporal_',
              globalTags: { service: opts.service, instance: opts.instance },
              prometheus: {
                bindAddress: `0.0.0.0:${sdkMetricsPort}`,
                countersTotalSuffix: true,
                unitSuffix: true,
                useSecondsForDurations: true,
              },
            },
          }
        : {}),
    },
  };
  Runtime.install(options);
}
