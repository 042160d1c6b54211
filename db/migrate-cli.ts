import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { migrateDatabase } from './migrate.js';

const config = loadConfig(process.env);
const logger = createLogger(config.LOG_LEVEL, { service: 'migrate' });
const { applied } = await migrateDatabase(config.DATABASE_URL, logger);
console.log(JSON.stringify({ level: 'info', msg: 'migrations applied', applied }));
