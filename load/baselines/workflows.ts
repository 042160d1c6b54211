/**
 * The single no-op activity workflow of `npm run bench` (never deployed). The same-shape no-op saga needs
 * no workflow of its own: it is the TradingSaga with empty steps (load/baselines/activities.ts).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { BaselineActivities } from './activities.js';

export async function NoopActivity(): Promise<void> {
  await proxyActivities<BaselineActivities>({ startToCloseTimeout: '10 seconds' }).noop();
}
