/**
 * The Node load generator: `npm run load:<scenario>` = `tsx load/run.ts <scenario>`, the scenarios of the
 * k6 scripts in load/k6/ with the same profiles and SLOs (docs/load-testing.md).
 *
 *   smoke | load | stress | spike | lb | ws
 *
 * Environment: BASE_URL (http://localhost:3000), MAILPIT_URL (http://localhost:8025), USERS, DURATION
 * (e.g. 20s; ramps are compressed to it), RATE (flows/s, or a ramp's peak), VUS (stress peak, ws
 * subscribers), ITERATIONS (smoke), INSTANCES (lb, default api-1,api-2,api-3), USER_PREFIX, USER_PASSWORD,
 * SUMMARY_DIR (load/results). Exits 1 when an SLO fails, 2 on a usage or setup error.
 */
import { isScenario, SCENARIOS } from './k6/lib/profiles.js';
import { loadEnv } from './scenarios/env.js';
import { runScenario } from './scenarios/index.js';

async function main(): Promise<number> {
  const scenario = process.argv[2];
  if (!isScenario(scenario)) {
    console.error(`usage: tsx load/run.ts <${SCENARIOS.join('|')}>`);
    return 2;
  }
  try {
    return (await runScenario(scenario, loadEnv(scenario, process.env))) ? 0 : 1;
  } catch (err) {
    console.error(`[load] ${scenario} stopped: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
}

process.exitCode = await main();
// autocannon and ws leave nothing to wait for once the run is over; do not linger on stray timers.
process.exit();
