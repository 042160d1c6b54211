/** Build the workflow bundle once (webpack via the SDK); a forbidden import in workflows/ fails here. */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

/** The workflows' entry beside this file's own kind: index.ts in the sources, index.js in dist/ (ADR 0027). */
export const WORKFLOWS_PATH = fileURLToPath(
  new URL(`../../workflows/index${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

export function buildWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
}

const noop = () => undefined;
const quietLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: (m: string) => console.error(m),
  log: noop,
};
