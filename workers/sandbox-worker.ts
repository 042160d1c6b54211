/**
 * Temporal workers whose workflow sandbox is lean: the SDK's sandbox, without two costs it adds to every
 * activation. Each can be put back for debugging.
 *
 * - Node's per-call vm watchdog (docs/adr/0013-workflow-sandbox-watchdog.md). The SDK enters the
 *   sandbox with `vm.runInContext(..., { timeout: 5000 })` several times per activation. On Node 20 every
 *   call with a `timeout` creates and joins a watchdog thread (about 65 µs of CPU per call instead of
 *   3 µs). Given up: a workflow stuck in a synchronous infinite loop is no longer cut off after 5 s (the
 *   server still times its workflow task out). `SANDBOX_WATCHDOG=on` puts it back.
 * - The per-promise stack capture (docs/adr/0016-workflow-stack-capture.md). The SDK installs a V8
 *   promise hook that, for every promise a workflow creates, builds an Error, formats its stack through
 *   the bundle's source map and stores it, to answer the `__stack_trace` query (the Web UI's "Stack
 *   Trace" tab). It was 38% of the workflow thread's CPU under `npm run bench` (sdk-typescript #1587).
 *   The hook is per thread and the SDK has no option for it, so the sandbox is hosted on the worker's
 *   own thread (the SDK's in-process reusable-context host, which its debug mode uses), where it can be
 *   left out. Given up: the stack trace query answers that stack traces are not enabled.
 *   `SANDBOX_STACK_TRACES=on` puts it back, with the SDK's workflow thread.
 */
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm.js';
import { globalHandlers } from '@temporalio/worker/lib/workflow/vm-shared.js';
import type { Config } from '../lib/config.js';

type CreatorArgs = Parameters<(typeof Worker)['createWorkflowCreator']>;

export interface SandboxOptions {
  /** Node's per-call vm watchdog (SDK default: on). */
  watchdog: boolean;
  /** The per-promise stack capture for the stack trace query (SDK default: on). */
  stackTraces: boolean;
}

/** `undefined` is what vm.runInContext reads as "no timeout"; the SDK's type says number. */
const NO_TIMEOUT = undefined as unknown as number;

/** A Worker class hosting workflows as `sandbox` says, through the SDK's protected extension point. */
function workerClass({ watchdog, stackTraces }: SandboxOptions) {
  return class LeanSandboxWorker extends Worker {
    protected static override async createWorkflowCreator(...[bundle, options, logger]: CreatorArgs) {
      const isolateExecutionTimeoutMs = watchdog ? options.isolateExecutionTimeoutMs : NO_TIMEOUT;
      if (stackTraces)
        return super.createWorkflowCreator(bundle, { ...options, isolateExecutionTimeoutMs }, logger);
      if (options.patchActivationCallback)
        throw new Error('patchActivationCallback needs SANDBOX_STACK_TRACES=on');
      // The SDK's global handlers (its source-mapped Error.prepareStackTrace and the promise hook) are
      // installed once per thread; the hook is stopped again at once, and the SDK's install() is then a no-op.
      globalHandlers.install();
      (globalHandlers as unknown as { stopPromiseHook(): void }).stopPromiseHook();
      globalHandlers.promiseHookInstalled = false;
      return ReusableVMWorkflowCreator.create(
        bundle,
        isolateExecutionTimeoutMs,
        new Set(options.activities.keys()),
        undefined,
      );
    }
  };
}

/** The sandbox settings of a process: SANDBOX_WATCHDOG and SANDBOX_STACK_TRACES (both off by default). */
export const sandboxOptions = (
  config: Pick<Config, 'SANDBOX_WATCHDOG' | 'SANDBOX_STACK_TRACES'>,
): SandboxOptions => ({
  watchdog: config.SANDBOX_WATCHDOG === 'on',
  stackTraces: config.SANDBOX_STACK_TRACES === 'on',
});

export function createSandboxWorker(options: WorkerOptions, sandbox: SandboxOptions): Promise<Worker> {
  return sandbox.watchdog && sandbox.stackTraces
    ? Worker.create(options)
    : workerClass(sandbox).create(options);
}
