/**
 * Temporal workers whose workflow sandbox runs without Node's per-call vm watchdog
 * (docs/adr/0013-workflow-sandbox-watchdog.md).
 *
 * The SDK enters the workflow sandbox with `vm.runInContext(..., { timeout: 5000 })` several times per
 * activation. On Node 20 every call with a `timeout` creates and joins a watchdog thread (about 65 µs
 * of CPU per call on the benchmark machine instead of 3 µs), on the one thread that runs every
 * workflow of the worker. This keeps the SDK's sandbox and drops only that timeout; the
 * SANDBOX_WATCHDOG=on setting puts it back. What is given up: a workflow stuck in a synchronous
 * infinite loop is no longer cut off after 5 s (the server still times its workflow task out).
 */
import { Worker, type WorkerOptions } from '@temporalio/worker';

type CreatorArgs = Parameters<(typeof Worker)['createWorkflowCreator']>;

class NoWatchdogWorker extends Worker {
  // `createWorkflowCreator` is the SDK's protected extension point for how workflows are hosted.
  protected static override async createWorkflowCreator(...[bundle, options, logger]: CreatorArgs) {
    // `undefined` is what vm.runInContext reads as "no timeout"; the SDK's type says number.
    return super.createWorkflowCreator(bundle, { ...options, isolateExecutionTimeoutMs: undefined as unknown as number }, logger);
  }
}

export function createSandboxWorker(options: WorkerOptions, watchdog: boolean): Promise<Worker> {
  return watchdog ? Worker.create(options) : NoWatchdogWorker.create(options);
}
