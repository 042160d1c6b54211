/**
 * `npm run tools`: builds the missing tools (devstack/tools.ts) and prints their paths.
 *
 *   npm run tools               the development set (Temporal CLI, Mailpit)
 *   npm run tools -- cluster    the cluster set (Temporal's server, schema tool, Web UI server, Mailpit)
 */
import { loadConfig } from '../lib/config.js';
import { CLUSTER_TOOLS, DEV_TOOLS, ensureTools, type ToolName } from '../devstack/tools.js';

const config = loadConfig(process.env);
const names: readonly ToolName[] = process.argv[2] === 'cluster' ? CLUSTER_TOOLS : DEV_TOOLS;
ensureTools(config.BROKERX_TOOLS_DIR, console.log, names).then(
  (p) => console.log(`tools ready: ${Object.values(p).join(', ')}`),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
