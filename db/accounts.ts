/** Fixed account ids created by the seed migration (db/migrations/0001_seed.sql). */
export const EXTERNAL_ACCOUNT_ID = '00000000-0000-0000-0000-000000000001';
export const HOUSE_ACCOUNT_ID = '00000000-0000-0000-0000-000000000002';
export const CASH_ASSET = 'USD';
