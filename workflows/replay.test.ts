/**
 * Replay safety: every recorded history in workflows/histories/ (TradingSagas and MarketControls) must
 * replay against today's workflow code without a non-determinism error. Record new ones with `npm run histories:record`.
 * (protobufjs is a direct devDependency so that @temporalio/common and @temporalio/proto share one copy:
 * with two, the SDK cannot read JSON histories.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../workers/trading/bundle.js';
import '../test/runtime-setup.js'; // the SDK's lines through our (quiet) logger

const dir = fileURLToPath(new URL('./histories/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

it('the corpus covers the saga paths and the control workflow', () => {
  const names = files.map((f) => f.replace(/\.json$/, ''));
  for (const path of [
    'fill',
    'partial-fill',
    'replace',
    'cancel',
    'expiry',
    'reject-insufficient-funds',
    'compensate-submit',
    'compensate-persist',
    'needs-attention',
    'stop-trigger',
    'stop-limit-trigger',
    'cancel-all',
    'cancel-all-partial',
    'cancel-all-stop',
    'replace-idempotent',
    'replace-time-in-force',
    'compensate-traded',
    'market-controls',
    'market-controls-continue-as-new',
  ])
    expect(names).toContain(path);
});

it('every recorded history replays on the current workflow code', { timeout: 120_000 }, async () => {
  const histories = files.map((f) => ({
    workflowId: f,
    history: JSON.parse(readFileSync(dir + f, 'utf8')) as object,
  }));
  const results = Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH }, histories);
  let count = 0;
  for await (const r of results) {
    expect(r.error, `${r.workflowId}: ${String(r.error)}`).toBeUndefined();
    count++;
  }
  expect(count).toBe(files.length);
});
