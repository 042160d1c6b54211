/**
 * The replay corpus: integration tests hand over the sagas worth keeping (fill, partial fill, replace,
 * cancel, expiry, each compensation path) and `npm run histories:record` writes their histories to
 * workflows/histories/, which workflows/replay.test.ts replays on every `npm test`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

const dir = fileURLToPath(new URL('../workflows/histories/', import.meta.url));

export async function keepHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  writeFileSync(`${dir}${name}.json`, historyToJSON(history) + '\n');
}
