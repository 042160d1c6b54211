/**
 * A test tier that needs a local binary (built by `npm run tools`): locally it is skipped with the
 * reason when the binary is missing; under CI (`CI=true`) it fails instead, so a green CI always ran it.
 */
import { existsSync } from 'node:fs';

/** Undefined when `path` exists; else why the tier is skipped (throws under CI). */
export function missingTool(path: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (existsSync(path)) return undefined;
  const reason = `${path} is missing (npm run tools builds it)`;
  if (env.CI === 'true') throw new Error(`${reason}; under CI=true this tier must run, not skip`);
  return reason;
}
