/**
 * The replay corpus: integration tests hand over the sagas worth keeping (fill, partial fill, replace,
 * cancel, expiry, each compensation path) and `npm run histories:record` writes their histories to
 * workflows/histories/, which workflows/replay.test.ts replays on every `npm test`. The Temporal CLI
 * writes them (`temporal workflow show --output json`: the proto3 JSON the SDK's replayer reads).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { inject } from 'vitest';

const dir = fileURLToPath(new URL('../workflows/histories/', import.meta.url));

export function keepHistory(name: string, handle: WorkflowHandle): void {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const env = inject('env');
  const json = execFileSync(
    join(env.BROKERX_TOOLS_DIR!, 'temporal'),
    [
      'workflow',
      'show',
      '--workflow-id',
      handle.workflowId,
      '--address',
      env.TEMPORAL_ADDRESS!,
      '--output',
      'json',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
  );
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(JSON.parse(json)) + '\n');
}
