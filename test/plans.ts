/**
 * The plans Postgres gives a test's statements: a client of a database of the file's own (isolatedEnv),
 * where auto_explain prints each statement's plan as EXPLAIN (FORMAT JSON) does, once `explain()` ran
 * (after the seed and its ANALYZE, so that the seed's statements are not recorded).
 */
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Db } from '../db/client.js';
import { isolatedEnv } from './isolated.js';

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Alias?: string;
  'Parent Relationship'?: string;
  Plans?: PlanNode[];
}

/** A plan's nodes, the node itself first. */
export const nodesOf = (p: PlanNode): PlanNode[] => [p, ...(p.Plans ?? []).flatMap(nodesOf)];

export interface PlanRecorder {
  /** One connection, so that auto_explain, loaded in its session, sees every statement. */
  client: postgres.Sql;
  db: Db;
  /** The plans of the statements run since `explain()`, in order (empty it between statements). */
  plans: PlanNode[];
  explain(): Promise<void>;
}

export async function planRecorder(tag: string): Promise<PlanRecorder> {
  const env = await isolatedEnv(tag);
  const plans: PlanNode[] = [];
  const client = postgres(env.DATABASE_URL!, {
    max: 1,
    onnotice: (n) => {
      const json = /plan:\s*(\{[\s\S]*)$/.exec(n.message ?? '')?.[1];
      if (json) plans.push((JSON.parse(json) as { Plan: PlanNode }).Plan);
    },
  });
  return {
    client,
    db: drizzle(client),
    plans,
    explain: async () => {
      await client`LOAD 'auto_explain'`;
      await client`SET auto_explain.log_min_duration = 0`;
      await client`SET auto_explain.log_format = json`;
      await client`SET auto_explain.log_level = notice`;
    },
  };
}
