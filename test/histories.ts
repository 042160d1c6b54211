/**
 * The replay corpus: integration tests hand over the workflows worth keeping (sagas that fill, partially
 * fill, are replaced, cancelled one by one or by cancel-all, expire, trigger as stops, each compensation
 * path, and each branch behind a `patched()` id; the MarketControls workflow) and `npm run
 * histories:record` adds their histories to workflows/histories/, which workflows/replay.test.ts replays
 * on every `npm test`. The Temporal CLI writes them (`temporal workflow show --output json`: the proto3
 * JSON the SDK's replayer reads). A history there stands for the sagas already running that took its
 * path, so recording never replaces one: a scenario is kept once per set of patches its history took,
 * as `<scenario>+<patch>+….json` (`<scenario>.json` with none).
 * `startToCloseTimeouts` reads a running stack's history: what timeout each scheduled activity got;
 * `failedActivities`, which activities failed for good (retries over, or out of their schedule-to-close).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { inject } from 'vitest';

/** The corpus replayed by workflows/replay.test.ts. */
export const HISTORIES_DIR = fileURLToPath(new URL('../workflows/histories/', import.meta.url));

/** A history as the Temporal CLI writes it (proto3 JSON): the fields the corpus reads. */
export interface HistoryJson {
  events: {
    workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } };
    markerRecordedEventAttributes?: {
      markerName?: string;
      details?: Record<string, { payloads?: { data?: string }[] }>;
    };
  }[];
}

/** The workflow type of a history (its first event). */
export const workflowTypeOf = (history: HistoryJson): string =>
  history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '';

/** The `patched()` ids whose new path the history took (its patch markers), sorted. */
export function patchesOf(history: HistoryJson): string[] {
  const ids = history.events.flatMap(({ markerRecordedEventAttributes: m }) => {
    const data = m?.markerName === 'core_patch' ? m.details?.['patch-data']?.payloads?.[0]?.data : undefined;
    return data ? [(JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { id: string }).id] : [];
  });
  return [...new Set(ids)].sort();
}

/** The patches the workflow's latest run took so far: a scenario shows it reached their new paths. */
export const patchesTaken = async (handle: WorkflowHandle): Promise<string[]> =>
  patchesOf(JSON.parse(historyToJSON(await handle.fetchHistory())) as HistoryJson);

/** The scenario a corpus file was recorded by: its name up to the patches. */
export const scenarioOf = (file: string): string => file.replace(/\.json$/, '').split('+')[0]!;

export const readHistory = (dir: string, file: string): HistoryJson =>
  JSON.parse(readFileSync(join(dir, file), 'utf8')) as HistoryJson;

/**
 * Add the history of scenario `name` to the corpus in `dir`, unless one of that scenario with the same
 * patches is there already; returns the file written. Never overwrites a file (`wx`).
 */
export function addHistory(dir: string, name: string, history: HistoryJson): string | undefined {
  const patches = patchesOf(history);
  const same = readdirSync(dir).some(
    (f) =>
      f.endsWith('.json') &&
      scenarioOf(f) === name &&
      patchesOf(readHistory(dir, f)).join('+') === patches.join('+'),
  );
  if (same) return undefined;
  const file = `${[name, ...patches].join('+')}.json`;
  writeFileSync(join(dir, file), JSON.stringify(history) + '\n', { flag: 'wx' });
  return file;
}

/** Keep the history of the workflow's latest run, or of run `runId` (one that continued as new, say). */
export function keepHistory(name: string, handle: WorkflowHandle, runId?: string): void {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const env = inject('env');
  const json = execFileSync(
    join(env.BROKERX_TOOLS_DIR!, 'temporal'),
    [
      'workflow',
      'show',
      '--workflow-id',
      handle.workflowId,
      ...(runId ? ['--run-id', runId] : []),
      '--address',
      env.TEMPORAL_ADDRESS!,
      '--output',
      'json',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
  );
  addHistory(HISTORIES_DIR, name, JSON.parse(json) as HistoryJson);
}

/** Each activity the workflow's latest run scheduled (local ones aside), with its start-to-close in ms. */
export async function startToCloseTimeouts(handle: WorkflowHandle): Promise<[string, number][]> {
  const events = (await handle.fetchHistory()).events ?? [];
  return events.flatMap(({ activityTaskScheduledEventAttributes: a }): [string, number][] => {
    if (!a) return [];
    const t = a.startToCloseTimeout;
    return [[a.activityType?.name ?? '', Number(String(t?.seconds ?? 0)) * 1000 + (t?.nanos ?? 0) / 1e6]];
  });
}

/** The activities of the workflow's latest run that failed or timed out for good, by name, in order. */
export async function failedActivities(handle: WorkflowHandle): Promise<string[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const names = new Map<string, string>();
  for (const e of events)
    if (e.activityTaskScheduledEventAttributes)
      names.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
  return events.flatMap((e) => {
    const ended = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    return ended ? [names.get(String(ended.scheduledEventId)) ?? ''] : [];
  });
}
