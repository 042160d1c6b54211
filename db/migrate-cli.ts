import { loadConfig } from '../lib/config.js';
import { migrateDatabase } from './migrate.js';

const config = loadConfig(process.env);
const { applied } = await migrateDatabase(config.DATABASE_URL);
console.log(JSON.stringify({ level: 'info', msg: 'migrations applied', applied }));
