/**
 * The auditor: runs every check of db/queries/audit.ts and returns findings as readable lines
 * (`npm run audit` prints them; the fault tests assert there are none), and, given a way to ask Temporal
 * (`sagaRunning`), finds open orders without a running saga. `deliveryFindings` compares what a feed
 * subscriber or a mailbox received with the fills the database says happened.
 */
import { asc, eq, notInArray } from 'drizzle-orm';
import { TERMINAL_STATUSES } from '../temporal/orders.js';
import type { DbOrTx } from './client.js';
import { orders } from './schema.js';
import { AUDIT_CHECKS, expectedFillDeliveries, type AuditCheck, type FillDelivery } from './queries/audit.js';
import { OUTBOX_RETENTION_DAYS_DEFAULT } from '../lib/config.js';

export type { AuditCheck, FillDelivery } from './queries/audit.js';

export interface Finding {
  /** An AUDIT_CHECKS name, order_saga_missing, or feed_/mail_ + missing, unexpected, and feed_duplicated. */
  check: string;
  subject: string;
  detail: string;
}

export interface AuditOptions {
  /** A pending order older than this many seconds is reported (its saga is stuck). Default 60. */
  pendingGraceSeconds?: number;
  /** The outbox's retention in days (OUTBOX_RETENTION_DAYS, default 7): older events may be gone. */
  outboxRetentionDays?: number;
  /** Run only these checks. */
  only?: AuditCheck[];
  /**
   * Whether the saga of this workflow id runs (temporal/saga-recovery.ts `sagaRunning`): with it, every
   * order that is not terminal and has no running saga is an `order_saga_missing` finding.
   */
  sagaRunning?: (workflowId: string) => Promise<boolean>;
  /**
   * The saga check asks about this many open orders at most, the oldest first (default 10,000); past it, an
   * `order_saga_check_truncated` finding says that the newer ones were not asked about.
   */
  sagaCheckLimit?: number;
}

/** Saga lookups in flight at once. */
const SAGA_CHECK_CONCURRENCY = 8;

export const formatFinding = (f: Finding): string => `${f.check}: ${f.subject}: ${f.detail}`;

/** Every invariant of the ledger, the orders and the outbox; an empty list when all hold. */
export async function runAudit(db: DbOrTx, opts: AuditOptions = {}): Promise<Finding[]> {
  const o = {
    pendingGraceSeconds: opts.pendingGraceSeconds ?? 60,
    outboxRetentionDays: opts.outboxRetentionDays ?? OUTBOX_RETENTION_DAYS_DEFAULT,
  };
  const findings: Finding[] = [];
  for (const [check, query] of Object.entries(AUDIT_CHECKS) as [
    AuditCheck,
    (typeof AUDIT_CHECKS)[AuditCheck],
  ][]) {
    if (opts.only && !opts.only.includes(check)) continue;
    for (const row of await query(db, o)) findings.push({ check, subject: row.subject, detail: row.detail });
  }
  if (opts.sagaRunning) findings.push(...(await missingSagas(db, opts.sagaRunning, opts.sagaCheckLimit)));
  return findings;
}

/**
 * Open orders (any status but a terminal one, pending included) whose saga does not run: lost with
 * Temporal's database, or terminated. Nothing can cancel, replace or expire such an order, and it may
 * still trade (docs/runbooks/stuck-saga.md re-adopts it). An order that closed while its saga was asked
 * about (its saga completed) is read again and not reported.
 */
async function missingSagas(
  db: DbOrTx,
  sagaRunning: (workflowId: string) => Promise<boolean>,
  limit = 10_000,
): Promise<Finding[]> {
  const open = await db
    .select({ id: orders.id, workflowId: orders.workflowId })
    .from(orders)
    .where(notInArray(orders.status, [...TERMINAL_STATUSES]))
    .orderBy(asc(orders.createdAt), asc(orders.id))
    .limit(limit + 1);
  const unchecked = open.length > limit ? open.splice(limit) : [];
  const gone: (typeof open)[number][] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < open.length; i = next++)
      if (!(await sagaRunning(open[i]!.workflowId))) gone.push(open[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(SAGA_CHECK_CONCURRENCY, open.length) }, worker));
  const findings: Finding[] = [];
  for (const o of gone.sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const [row] = await db.select({ status: orders.status }).from(orders).where(eq(orders.id, o.id));
    if (!row || TERMINAL_STATUSES.includes(row.status)) continue;
    findings.push({
      check: 'order_saga_missing',
      subject: `order ${o.id} (${row.status})`,
      detail: `no running saga ${o.workflowId}: nothing can cancel, replace or expire it (npm run sagas:readopt)`,
    });
  }
  // The check stops at the oldest `limit` open orders: the audit cannot vouch for the newer ones.
  if (unchecked.length > 0)
    findings.push({
      check: 'order_saga_check_truncated',
      subject: `open orders after the oldest ${limit}`,
      detail: `their sagas were not asked about: the check stops at ${limit} open orders`,
    });
  return findings;
}

/**
 * Compare deliveries received (`seen`, in any order, repeats included) with those expected: each
 * expected one exactly once, nothing else. `channel` names the findings (feed_missing, feed_duplicated ...).
 * A mail may come twice: a relay killed between sending it and marking it sent leaves it to the next
 * delivery of its row, which sends it again (workers/outbox/relay.ts); losing it is the finding.
 */
export function deliveryFindings(
  channel: 'feed' | 'mail',
  expected: FillDelivery[],
  seen: Omit<FillDelivery, 'accountId'>[],
): Finding[] {
  const key = (d: Omit<FillDelivery, 'accountId'>) => `${d.fillId} order ${d.orderId}`;
  const counts = new Map<string, number>();
  for (const d of seen) counts.set(key(d), (counts.get(key(d)) ?? 0) + 1);
  const findings: Finding[] = [];
  const wanted = new Set<string>();
  for (const d of expected) {
    const k = key(d);
    wanted.add(k);
    const n = counts.get(k) ?? 0;
    if (n === 0)
      findings.push({
        check: `${channel}_missing`,
        subject: `fill ${k}`,
        detail: `never delivered to account ${d.accountId}`,
      });
    if (n > 1 && channel === 'feed')
      findings.push({ check: `${channel}_duplicated`, subject: `fill ${k}`, detail: `delivered ${n} times` });
  }
  for (const [k, n] of counts)
    if (!wanted.has(k))
      findings.push({
        check: `${channel}_unexpected`,
        subject: `fill ${k}`,
        detail: `delivered ${n} times, not a fill of these accounts`,
      });
  return findings;
}

/**
 * The feed and mail checks of the fault suite: `feed` is what the subscribers of `accountIds` saw
 * (execution reports with a fill_id), `mail` the fill confirmations received (see `fillOfMail`).
 * Mail is expected only for accounts with a user (the house account gets none).
 */
export async function auditDeliveries(
  db: DbOrTx,
  observed: {
    accountIds: string[];
    feed?: Omit<FillDelivery, 'accountId'>[];
    mail?: Omit<FillDelivery, 'accountId'>[];
  },
): Promise<Finding[]> {
  const findings: Finding[] = [];
  if (observed.feed)
    findings.push(
      ...deliveryFindings(
        'feed',
        await expectedFillDeliveries(db, { accountIds: observed.accountIds }),
        observed.feed,
      ),
    );
  if (observed.mail)
    findings.push(
      ...deliveryFindings(
        'mail',
        await expectedFillDeliveries(db, { accountIds: observed.accountIds, mailable: true }),
        observed.mail,
      ),
    );
  return findings;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const MAIL_ID = new RegExp(`fill-(${UUID})-(${UUID})`, 'i');

/** The fill a confirmation mail is about, from its Message-ID (`fill-<trade id>-<order id>`, workers/outbox/relay.ts). */
export function fillOfMail(messageId: string): Omit<FillDelivery, 'accountId'> | undefined {
  const m = MAIL_ID.exec(messageId);
  return m ? { fillId: m[1]!.toLowerCase(), orderId: m[2]!.toLowerCase() } : undefined;
}
