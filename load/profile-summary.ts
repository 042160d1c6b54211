/**
 * Summarize the CPU profiles of a benchmark run: for each `.cpuprofile` in a folder (one per process
 * and thread, from `BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" npm run bench`), its busy time and
 * the largest shares by package and by function (load/lib/profile.ts).
 *
 *   npm run profile:summary -- DIR [--skip=40] [--top=15]
 *
 * --skip drops each profile's first seconds (the module loading of a process started through tsx).
 * A profile is named by the entry it ran (api/main.ts, workers/<kind>/main.ts), else by its file: the
 * workers' workflow threads have profiles of their own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { summarizeProfile, type CpuProfile } from './lib/profile.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const value = Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number >= 0`);
  return value;
};
const dir = args.find((a) => !a.startsWith('--'));
if (!dir) {
  console.error('usage: npm run profile:summary -- DIR [--skip=SECONDS] [--top=N]');
  process.exit(2);
}
const skipMs = option('skip', 0) * 1000;
const top = option('top', 15);
const percent = ([name, share]: [string, number]) => `${(100 * share).toFixed(1).padStart(5)}%  ${name}`;

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const entry = profile.nodes
    .map((n) => /(api|workers\/[\w-]+)\/main\.ts$/.exec(n.callFrame.url)?.[0])
    .find((e) => e !== undefined);
  const summary = summarizeProfile(profile, { skipMs });
  const name = entry ? `${entry} (${file})` : file;
  console.log(`\n## ${name}: ${(summary.busyMs / 1000).toFixed(1)} s busy`);
  console.log('by package:');
  for (const row of summary.byPackage.slice(0, top)) console.log(percent(row));
  console.log('by function:');
  for (const row of summary.byFunction.slice(0, top)) console.log(percent(row));
}
