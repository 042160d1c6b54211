/**
 * Where a process spent its CPU, from a V8 `.cpuprofile` (what `node --cpu-prof` writes; the benchmark
 * passes the flag to the stack's processes with BENCH_NODE_ARGS): self time by package (a dependency in
 * node_modules, Node's own `node:` code, native code, or the repository's folder) and by function,
 * idle time left out. `skipMs` drops the first samples (the seconds a process started through tsx
 * spends loading modules), so that a summary reads the steady state.
 */

/** The parts of a V8 CPU profile this reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Milliseconds of samples that were not idle, after `skipMs`. */
  busyMs: number;
  /** [name, share of busyMs] largest first. */
  byPackage: [string, number][];
  byFunction: [string, number][];
}

/**
 * What a script URL belongs to: the dependency (`node_modules/<pkg>`), `node:` (Node's own code),
 * `(native)` (no script), or the repository folder of the file (its path under `root`, less the name).
 */
export function packageOf(url: string, root = process.cwd()): string {
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1]!;
  if (!url) return '(native)';
  if (url.startsWith('node:')) return 'node:';
  const path = url.replace(/^file:\/\//, '');
  const inRepo = path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
  const slash = inRepo.lastIndexOf('/');
  return slash > 0 ? inRepo.slice(0, slash) : inRepo;
}

const shares = (totals: Map<string, number>, busy: number): [string, number][] =>
  [...totals].map(([k, v]): [string, number] => [k, busy ? v / busy : 0]).sort((a, b) => b[1] - a[1]);

export function summarizeProfile(
  profile: CpuProfile,
  opts: { skipMs?: number; root?: string } = {},
): ProfileSummary {
  const skipUs = (opts.skipMs ?? 0) * 1000;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let at = profile.startTime;
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    const frame = nodes.get(id);
    if (!frame || (skipUs > 0 && at - profile.startTime <= skipUs) || frame.functionName === '(idle)') return;
    const pkg = packageOf(frame.url, opts.root);
    const fn = `${frame.functionName || '(anonymous)'} ${pkg}:${frame.lineNumber + 1}`;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + delta);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta);
    busy += delta;
  });
  return { busyMs: busy / 1000, byPackage: shares(byPackage, busy), byFunction: shares(byFunction, busy) };
}
