/**
 * Replay safety: every recorded history in workflows/histories/ (TradingSagas and MarketControls) must
 * replay against today's workflow code without a non-determinism error. The corpus only grows: the
 * histories recorded before a patch stand for the workflows still running its old path, so every patch
 * id has at least one history without its marker and one recorded with the new code that took its new
 * path (`npm run histories:record` adds them, test/histories.ts, and never replaces a file).
 * (protobufjs is a direct devDependency so that @temporalio/common and @temporalio/proto share one copy:
 * with two, the SDK cannot read JSON histories.)
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../workers/trading/bundle.js';
import {
  HISTORIES_DIR as dir,
  addHistory,
  patchesOf,
  readHistory,
  scenarioOf,
  workflowTypeOf,
} from '../test/histories.js';
import { PATCHES as CONTROL_PATCHES } from './market-controls.js';
import { PATCHES as SAGA_PATCHES } from './trading-saga.js';
import '../test/runtime-setup.js'; // the SDK's lines through our (quiet) logger

const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

it('the corpus covers the saga paths and the control workflow', () => {
  const names = files.map(scenarioOf);
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
    'replace-then-fill',
    'closed-before-answer',
    'modify-queue',
    'market-controls',
    'market-controls-continue-as-new',
  ])
    expect(names).toContain(path);
});

it('every patch id has a history from before it and one that took its new path', () => {
  const histories = files.map((f) => ({ file: f, history: readHistory(dir, f) }));
  const missing: string[] = [];
  for (const [type, ids] of [
    ['TradingSaga', Object.values(SAGA_PATCHES)],
    ['MarketControls', Object.values(CONTROL_PATCHES)],
  ] as const) {
    const ofType = histories.filter((h) => workflowTypeOf(h.history) === type);
    for (const id of ids) {
      const taken = ofType.filter((h) => patchesOf(h.history).includes(id));
      if (taken.length === ofType.length) missing.push(`${type} ${id}: no history without its marker`);
      if (taken.length === 0) missing.push(`${type} ${id}: no history with its marker`);
    }
  }
  expect(missing).toEqual([]);
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

describe('recording (npm run histories:record)', () => {
  let scratch: string | undefined;
  afterEach(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('adds a history beside the ones of its scenario, once per set of patches, and replaces none', () => {
    scratch = mkdtempSync(join(tmpdir(), 'rv_histories-'));
    // The corpus's fill from before any patch, and a history that took a patch's new path.
    copyFileSync(join(dir, 'fill.json'), join(scratch, 'fill.json'));
    const before = readFileSync(join(scratch, 'fill.json'), 'utf8');
    const patched = readHistory(dir, 'compensate-traded.json');
    expect(patchesOf(patched)).toEqual(['withdraw-keeps-trades']);

    expect(addHistory(scratch, 'fill', patched)).toBe('fill+withdraw-keeps-trades.json');
    expect(readFileSync(join(scratch, 'fill.json'), 'utf8')).toBe(before);
    // The same scenario with the same patches again (and one without) is there already: nothing written.
    expect(addHistory(scratch, 'fill', patched)).toBeUndefined();
    expect(addHistory(scratch, 'fill', readHistory(dir, 'fill.json'))).toBeUndefined();
    expect(readdirSync(scratch).sort()).toEqual(['fill+withdraw-keeps-trades.json', 'fill.json']);
    expect(readFileSync(join(scratch, 'fill.json'), 'utf8')).toBe(before);
    expect(scenarioOf('fill+withdraw-keeps-trades.json')).toBe('fill');
  });
});
