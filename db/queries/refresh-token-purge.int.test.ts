/**
 * The housekeeping's refresh-token purge (purgeEndedRefreshTokens) on a table of realistic shape: users
 * with several sessions over the last four weeks (some logged out, some abandoned), and users whose one
 * session ended months ago (their newest token stays for good). A batch must not scan the table again
 * for each candidate (a user's newer tokens are read by index): with such a plan a batch ran for seconds
 * on 45,000 tokens and for over ten minutes on 275,000. Asserted on the plan the function's own statement
 * gets (test/plans.ts), in a database of the file's own, analyzed after the seed.
 */
import type postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nodesOf, planRecorder, type PlanNode } from '../../test/plans.js';
import type { Db } from '../client.js';
import { purgeEndedRefreshTokens } from './users.js';

/** Users: two in five active (five sessions each), the others with one session 60 to 350 days ago. */
const USERS = 5_000;
const day = 86_400_000;
const ttl = 14 * day;

let client: postgres.Sql;
let db: Db;
let plans: PlanNode[];

beforeAll(async () => {
  const recorder = await planRecorder('tokenpurge');
  ({ client, db, plans } = recorder);
  await client`
    INSERT INTO users (id, email, password_hash, first_name, last_name, totp_secret)
    SELECT md5('purge-user' || u)::uuid, 'purge-' || u || '@example.com', 'x', 'P', 'U', 'S'
      FROM generate_series(1, ${USERS}) u`;
  // Each session: 1 to 6 tokens 15 minutes apart, all but the last rotated, expiring with the login; six
  // in ten of the active users' sessions were logged out after their last token, the rest abandoned.
  await client`
    WITH sessions AS (
      SELECT u, md5('purge-family' || u || '-' || s)::uuid AS family_id, 1 + (u + s) % 6 AS tokens,
             (u * 13 + s * 7) % 10 < 6 AND u % 5 < 2 AS logged_out,
             CASE WHEN u % 5 < 2 THEN now() - (u * 7 % 100) * interval '0.28 days'
                  ELSE now() - interval '60 days' - (u % 97) * interval '3 days' END AS login
        FROM generate_series(1, ${USERS}) u, generate_series(1, 5) s
       WHERE u % 5 < 2 OR s = 1)
    INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at, rotated_at, revoked_at)
    SELECT md5('purge-user' || u)::uuid, family_id, md5(family_id::text || k), login + interval '14 days',
           login + k * interval '15 minutes',
           CASE WHEN k < tokens - 1 THEN login + (k + 1) * interval '15 minutes' END,
           CASE WHEN logged_out THEN login + tokens * interval '15 minutes' END
      FROM sessions, generate_series(0, tokens - 1) k`;
  await client`ANALYZE refresh_tokens`;
  await recorder.explain();
}, 60_000);

afterAll(() => client?.end({ timeout: 5 }));

it('purges a batch without scanning the table once per candidate', async () => {
  const [{ tokens }] = await client<[{ tokens: number }]>`SELECT count(*)::int AS tokens FROM refresh_tokens`;
  expect(tokens).toBeGreaterThan(40_000);
  const now = new Date();
  plans.length = 0;
  const deleted = await purgeEndedRefreshTokens(db, {
    now,
    before: new Date(now.getTime() - ttl),
    limit: 1000,
  });
  expect(deleted).toBe(1000);
  expect(plans).toHaveLength(1);
  const nodes = nodesOf(plans[0]!);
  // The inner side of a nested loop runs once per row of its outer side: no sequential scan there.
  const rescanned = nodes
    .filter((n) => n['Node Type'] === 'Nested Loop')
    .flatMap((n) => n.Plans!.filter((p) => p['Parent Relationship'] === 'Inner').flatMap(nodesOf))
    .filter((n) => n['Node Type'] === 'Seq Scan')
    .map((n) => n.Alias);
  expect(rescanned).toEqual([]);
  expect(nodes.map((n) => n['Index Name'])).toContain('refresh_tokens_user_idx');
});
