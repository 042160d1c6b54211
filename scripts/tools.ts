/** `npm run tools`: builds the Temporal CLI and Mailpit if missing (devstack/tools.ts) and prints their paths. */
import { loadConfig } from '../lib/config.js';
import { ensureTools } from '../devstack/tools.js';

const config = loadConfig(process.env);
ensureTools(config.BROKERX_TOOLS_DIR).then(
  (p) => console.log(`tools ready: ${p.temporal}, ${p.mailpit}`),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
