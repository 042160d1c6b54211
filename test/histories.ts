/**
 * The replay corpus: integration tests hand over the workflows worth keeping (sagas that fill, partially
 * fill, are replaced, cancelled one by one or by cancel-all, expire, trigger as stops, each compensation
 * path; the MarketControls workflow) and `npm run histories:record` writes their histories to
 * workflows/histories/, which workflows/replay.test.ts replays on every `npm test`. The Temporal CLI
 * writes them (`temporal workflow show --output json`: the proto3 JSON the SDK's replayer reads).
 * `startToCloseTimeouts` reads a running stack's history: what timeout each scheduled activity got;
 * `failedActivities`, which activities failed for good (retries over, or out of their schedule-to-close).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { inject } from 'vitest';

const dir = fileURLToPath(new URL('../workflows/histories/', import.meta.url));

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
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(JSON.parse(json)) + '\n');
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
