/**
 * The outbox relay. Claims the pending rows in insert order (ADR 0041; one relay relays at a time: its
 * worker holds the relay's lease, ./worker.ts; the rows have no lease of their own, ADR 0036), then:
 * publishes the batch to Redis (one pipeline, in order), signals the order sagas (fills, closes), sends
 * the fill confirmation mails (their Redis keys taken in one pipeline, marked sent in another); the
 * relay's next claim (at the next NOTIFY or poll, or at once when more rows may be waiting) marks the
 * delivered rows done in the same statement.
 * Delivery is at least once; every event carries a unique event id, account events their sequence.
 * A failed row is retried after a backoff, without publishing again once an attempt published it; only a
 * failure of the row's own (`rowFault`) dead-letters it, a service that is down never does.
 * Wakes on LISTEN brokerx_outbox, polls as a fallback.
 * While it runs, it also deletes the done rows past their use every `pruneIntervalMs`, in batches: the
 * market data, and the account events older than the retention (docs/adr/0043-outbox-retention.md), and
 * counts what waits for an operator every `attentionIntervalMs`: the TradingSagas parked in
 * needs_attention (Temporal's visibility) and the dead outbox rows, for the alerts on that state.
 */
import { isGrpcServiceError, ServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ChainableCommander, Redis } from 'ioredis';
import type postgres from 'postgres';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { OUTBOX_RETENTION_DAYS_DEFAULT } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { mailRefused, type Mailer } from '../../lib/mailer.js';
import { CASH_SCALE, formatDecimal } from '../../lib/money.js';
import { ttlCache } from '../../lib/ttl-cache.js';
import { accountChannel, marketCacheKeys, marketChannel } from '../../lib/redis-keys.js';
import {
  accountEmail,
  claimOutboxRows,
  markOutboxDone,
  markOutboxFailed,
  outboxBacklog,
  outboxDeadRows,
  pruneOutbox,
  type OutboxRow,
} from '../../db/queries/outbox.js';
import { fillSignal, orderClosedSignal, orderTriggeredSignal } from '../../temporal/contracts.js';
import { EventType, publishedEvent, type ExecutionReportPayload } from '../../temporal/events.js';
import { isTerminal } from '../../temporal/orders.js';
import { OrderStatusKey } from '../../temporal/search-attributes.js';
import { TRADING_SAGA } from '../../temporal/trading-saga.js';

export interface RelayDeps {
  sql: postgres.Sql;
  redis: Redis;
  temporal: Client;
  mailer: Mailer;
  logger: Logger;
  registry: Registry;
  redisPrefix: string;
  batchSize?: number;
  /** A row whose own failure (`rowFault`) comes at this attempt or later is dead. */
  maxAttempts?: number;
  pollMs?: number;
  /** Done account events older than this many days are deleted (OUTBOX_RETENTION_DAYS). */
  retentionDays?: number;
  /** How often the running relay deletes the done rows past their use (default a minute). */
  pruneIntervalMs?: number;
  /** Rows per delete statement of each kind (default 5000). */
  pruneBatchSize?: number;
  /**
   * How often the running relay counts the sagas in needs_attention and the dead rows
   * (ATTENTION_INTERVAL_SECONDS, default 30 s).
   */
  attentionIntervalMs?: number;
}

/** The running sagas parked in needs_attention (they wait for the retryCompensations signal). */
export const NEEDS_ATTENTION_QUERY =
  `WorkflowType = "${TRADING_SAGA}" AND ExecutionStatus = "Running"` +
  ` AND ${OrderStatusKey.name} = "needs_attention"`;

/**
 * The relay's metrics. The retry and dead series of every event type, which the dashboard's "in range"
 * panels take `increase()` of, and both series of the rows pruned, start at 0: prom-client exports a
 * labelled series only from its first `inc()`, and Prometheus sees no increase in a series' first sample.
 * The two counts of what waits for an operator (`saga_needs_attention`, `outbox_dead_rows`, which the
 * SagaNeedsAttention and OutboxDeadLetters alerts read) are the active relay's, 0 while it stands by.
 */
export function createRelayMetrics(registry: Registry) {
  const processed = new Counter({
    name: 'outbox_events_processed_total',
    help: 'Outbox events relayed, by type and outcome (done, superseded market data, retry, dead)',
    labelNames: ['event_type', 'outcome'] as const,
    registers: [registry],
  });
  for (const event_type of Object.values(EventType))
    for (const outcome of ['retry', 'dead']) processed.inc({ event_type, outcome }, 0);
  const pruned = new Counter({
    name: 'outbox_rows_pruned_total',
    help: 'Done outbox rows deleted: market data, and account events past the retention (expired)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  for (const kind of ['market', 'expired']) pruned.inc({ kind }, 0);
  const dead = new Gauge({
    name: 'outbox_dead_rows',
    help: 'Dead outbox rows (never retried by themselves), by type; counted by the active relay',
    labelNames: ['event_type'] as const,
    registers: [registry],
  });
  for (const event_type of Object.values(EventType)) dead.set({ event_type }, 0);
  const attentionFailures = new Counter({
    name: 'attention_read_failures_total',
    help: 'Counts of saga_needs_attention or outbox_dead_rows that failed (the gauge kept its value)',
    labelNames: ['gauge'] as const,
    registers: [registry],
  });
  for (const gauge of ['saga_needs_attention', 'outbox_dead_rows']) attentionFailures.inc({ gauge }, 0);
  return {
    processed,
    pruned,
    dead,
    attentionFailures,
    needsAttention: new Gauge({
      name: 'saga_needs_attention',
      help: 'Running TradingSagas parked in needs_attention (Temporal visibility), by the active relay',
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'outbox_lag_seconds',
      help: 'Age of the oldest pending outbox row',
      registers: [registry],
    }),
    pending: new Gauge({ name: 'outbox_pending', help: 'Pending outbox rows', registers: [registry] }),
    delivery: new Histogram({
      name: 'outbox_delivery_seconds',
      help: 'Time from outbox insert to relayed',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    mails: new Counter({
      name: 'fill_emails_sent_total',
      help: 'Fill confirmation mails sent',
      registers: [registry],
    }),
  };
}

/** gRPC's status for a request the server refuses as malformed. */
const GRPC_INVALID_ARGUMENT = 3;

/**
 * Whether a failure is the row's own, one that another attempt cannot cure: reading its payload threw (a
 * TypeError, SyntaxError or RangeError: a field missing or of the wrong shape), Temporal refused its
 * signal as invalid, or the SMTP server refused its mail for good. Any other failure is a service
 * unreachable, timing out or overloaded, which every row meets alike until the service is back.
 */
function rowFault(err: unknown): boolean {
  if (err instanceof ServiceError)
    return isGrpcServiceError(err.cause)
      ? (err.cause.code as number) === GRPC_INVALID_ARGUMENT
      : rowFault(err.cause);
  return (
    err instanceof TypeError || err instanceof SyntaxError || err instanceof RangeError || mailRefused(err)
  );
}

export interface Relay {
  /** Claim and process one batch; returns how many rows it handled. */
  processBatch(): Promise<number>;
  /** Set the backlog gauges (`outbox_pending`, `outbox_lag_seconds`) from the outbox table. */
  measureLag(): Promise<void>;
  /**
   * Set `saga_needs_attention` from Temporal's visibility (one count) and `outbox_dead_rows` from the
   * outbox table; a count that fails is logged and counted, and its gauge keeps its value. The running
   * relay calls it at its start and every `attentionIntervalMs`.
   */
  measureAttention(): Promise<void>;
  /**
   * Delete the done rows past their use, batch after batch until one comes back short (or the relay
   * stops); returns how many. The running relay calls it every `pruneIntervalMs`.
   */
  prune(): Promise<number>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A fill's confirmation mail: what traded, when (the trade's time, UTC: the mail may leave later), and
 * what is left of the order. An order that never rests (IOC, market, a triggered stop) keeps no remainder:
 * what its arrival did not fill is cancelled at once, so the mail says so instead of "remaining".
 */
export function fillMail(p: ExecutionReportPayload): { subject: string; text: string } {
  const side = p.side.toUpperCase();
  const price = formatDecimal(BigInt(p.fill_price!), CASH_SCALE);
  const rests = p.time_in_force !== 'IOC' && p.order_type !== 'market' && p.order_type !== 'stop';
  const left =
    p.exec_type === 'fill' || rests
      ? `remaining: ${p.leaves_qty}`
      : 'what is not filled on arrival is cancelled (the order does not rest in the book)';
  return {
    subject: `BrokerX fill: ${side} ${p.fill_qty} ${p.symbol} @ ${price}`,
    text:
      `Your order ${p.client_order_id} (${p.order_id}) was ${p.exec_type === 'fill' ? 'filled' : 'partially filled'}.\n` +
      `${side} ${p.fill_qty} ${p.symbol} at ${price} USD.\n` +
      `Executed: ${p.ts} (UTC).\n` +
      `Filled so far: ${p.cum_qty}, ${left}.\nFill id: ${p.fill_id}\n`,
  };
}

export function createOutboxRelay(deps: RelayDeps): Relay {
  const { sql, redis, logger } = deps;
  const batchSize = deps.batchSize ?? 200;
  const maxAttempts = deps.maxAttempts ?? 10;
  const pruneBatchSize = deps.pruneBatchSize ?? 5000;
  const metrics = createRelayMetrics(deps.registry);
  // Accounts' addresses never change (db/queries/outbox.ts): a fill's mail needs no query per fill.
  const emails = ttlCache<string | undefined>({ max: 10_000, ttlMs: 60_000 });
  /** Rows delivered and not yet marked done: the next claim marks them (or `stop()`). */
  let delivered: string[] = [];
  let running = false;
  /** A NOTIFY arrived since the last claim began: rows may be pending that it did not see. */
  let notified = true;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  /** The timer's prune under way, which `stop()` waits for (cut short after its batch). */
  let pruning: Promise<unknown> | undefined;
  let attentionTimer: NodeJS.Timeout | undefined;
  /** The counts under way, which `stop()` waits for before it sets the gauges to 0. */
  let measuring: Promise<void> | undefined;
  let stopping = false;

  async function signalSaga(p: ExecutionReportPayload): Promise<void> {
    // The saga that ran the step already has the step's result; only other orders' sagas need telling.
    if (!p.workflow_id || p.notify_saga === false) return;
    const handle = deps.temporal.workflow.getHandle(p.workflow_id);
    const { status } = p;
    try {
      if (p.fill_id !== null && p.fill_price !== null) {
        await handle.signal(fillSignal, {
          fillId: p.fill_id,
          orderId: p.order_id,
          quantity: p.fill_qty,
          price: p.fill_price,
          filledQuantity: p.cum_qty,
          status,
          reservedAmount: p.reserved_amount,
        });
      } else if (p.exec_type === 'triggered') {
        await handle.signal(orderTriggeredSignal, {
          orderId: p.order_id,
          status,
          reservedAmount: p.reserved_amount,
          triggeredAt: p.triggered_at ?? p.ts,
        });
      } else if (isTerminal(status)) {
        await handle.signal(orderClosedSignal, {
          orderId: p.order_id,
          status,
          reservedAmount: p.reserved_amount,
        });
      }
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return; // saga already closed: nothing to tell it
      throw err;
    }
  }

  /**
   * The key of a fill's mail to one order's owner: `sending` from before the mail until it is marked
   * `sent` after it. Any other value is a row id, from builds that wrote it before sending and never
   * marked it: read as sent.
   */
  const mailKey = (p: ExecutionReportPayload) => `${deps.redisPrefix}mail:fill:${p.fill_id}:${p.order_id}`;
  const mailsFill = (row: OutboxRow): row is OutboxRow & { event_type: typeof EventType.ExecutionReport } =>
    row.event_type === EventType.ExecutionReport &&
    row.payload.fill_id !== null &&
    row.payload.fill_price !== null &&
    !!row.account_id;

  /** The fill's mail, once its key is taken; a failure releases the key, so the row's retry mails again. */
  async function mailFill(accountId: string, p: ExecutionReportPayload): Promise<void> {
    try {
      const email = await emails.get(accountId, () => accountEmail(sql, accountId));
      if (!email) return; // house account: nobody to mail
      await deps.mailer.send({ to: email, ...fillMail(p), messageId: `fill-${p.fill_id}-${p.order_id}` });
      metrics.mails.inc();
    } catch (err) {
      await redis.del(mailKey(p));
      throw err;
    }
  }

  /**
   * Queue `rows`' commands on one pipeline (one round trip, sent in order) and run it; each row's result
   * is the error `queue` threw for it (reading its payload), else its commands' first error, or undefined
   * when all of them succeeded. A Redis that does not answer fails each command after connectRedis's
   * command timeout: the batch's rows fail and are retried, and the relay goes on (and can stop).
   */
  async function pipelined<R>(
    rows: R[],
    queue: (pipeline: ChainableCommander, row: R) => void,
  ): Promise<{ row: R; err: unknown; replies: unknown[] }[]> {
    const pipeline = redis.pipeline();
    const queued = rows.map((row) => {
      const before = pipeline.length;
      try {
        queue(pipeline, row);
        return { count: pipeline.length - before, err: undefined };
      } catch (err) {
        return { count: pipeline.length - before, err };
      }
    });
    let results: [Error | null, unknown][] = [];
    try {
      if (pipeline.length > 0) results = (await pipeline.exec()) ?? [];
    } catch (err) {
      return rows.map((row, i) => ({ row, err: queued[i]!.err ?? err, replies: [] }));
    }
    let at = 0;
    return rows.map((row, i) => {
      const { count, err: queueErr } = queued[i]!;
      const own = results.slice(at, (at += count));
      const err =
        queueErr ??
        (own.length < count ? new Error('Redis pipeline ended early') : own.find(([e]) => e)?.[0]);
      return { row, err: err ?? undefined, replies: own.map(([, reply]) => reply) };
    });
  }

  /** Live subscribers first: the feed waits on this, nothing else does. */
  function queuePublish(pipeline: ChainableCommander, row: OutboxRow): void {
    const event = publishedEvent(row); // throws on a payload that is no object
    if (row.account_id) {
      pipeline.publish(
        accountChannel(deps.redisPrefix, row.account_id),
        JSON.stringify({ ...event, seq: Number(row.account_seq) }),
      );
    } else if (row.event_type === EventType.MarketUpdate) {
      // The book changed: drop the REST cache (api/routes/market.ts) before telling live subscribers.
      pipeline.del(...marketCacheKeys(deps.redisPrefix, row.payload.symbol));
      pipeline.publish(marketChannel(deps.redisPrefix, row.payload.symbol), JSON.stringify(event));
    }
  }

  async function processBatch(): Promise<number> {
    // The claim also marks the previous batch done: one statement per batch instead of two.
    const done = delivered;
    delivered = [];
    notified = false;
    let rows: OutboxRow[];
    try {
      rows = await claimOutboxRows(sql, { limit: batchSize, done });
    } catch (err) {
      delivered = [...done, ...delivered];
      throw err;
    }
    /** Each failed row's error: a row whose payload cannot be read fails alone, where it is read. */
    const failed = new Map<string, unknown>();
    // Market data: only the newest change per symbol in a batch is published (the claim returns the rows
    // in insert order); it carries the whole book (L1, L2, last trades), so the older ones are
    // superseded, not lost.
    const newestMarket = new Map<string, string>();
    const superseded = new Set<string>();
    for (const row of rows) {
      if (row.event_type !== EventType.MarketUpdate) continue;
      try {
        const older = newestMarket.get(row.payload.symbol);
        if (older !== undefined) superseded.add(older);
        newestMarket.set(row.payload.symbol, row.id);
      } catch (err) {
        failed.set(row.id, err);
      }
    }
    // 1. Publish in order (per-account order matters to the feed): the batch's publishes and cache
    // deletes in one pipeline, which Redis runs in the order sent. A row an earlier attempt published
    // is not published again (a later step of it failed then).
    const published = new Set<string>();
    for (const { row, err } of await pipelined(
      rows.filter((row) => !row.published && !superseded.has(row.id) && !failed.has(row.id)),
      queuePublish,
    ))
      if (err === undefined) published.add(row.id);
      else failed.set(row.id, err);
    // 2. Signals concurrently: sagas order fills by quantity.
    const pending = () => rows.filter((row) => !failed.has(row.id));
    await Promise.all(
      pending().map(async (row) => {
        if (row.event_type !== EventType.ExecutionReport) return;
        try {
          await signalSaga(row.payload);
        } catch (err) {
          failed.set(row.id, err);
        }
      }),
    );
    // 3. Mails, one per fill and order: the batch's keys taken as `sending` in one pipeline (after the
    // signals, so a row retried for its signal still mails), each reply the key's earlier value. A row
    // mails when its key was free or is still `sending`: the relay that took it died before marking it,
    // maybe before sending (relays take turns by the lease: none is still sending it, unless it lost the
    // lease unawares). Mailing again may duplicate the mail; skipping could lose it. The mails sent are
    // marked `sent` in another pipeline (none when nothing was mailed). Rows of one fill and order in a
    // batch mail once.
    const mailing = new Map(
      pending()
        .filter(mailsFill)
        .map((row) => [mailKey(row.payload), row]),
    );
    const keyed = await pipelined([...mailing.values()], (pipeline, row) =>
      pipeline.set(mailKey(row.payload), 'sending', 'EX', 7 * 24 * 3600, 'NX', 'GET'),
    );
    const sent: ExecutionReportPayload[] = [];
    await Promise.all(
      keyed.map(async ({ row, err, replies }) => {
        if (err !== undefined) failed.set(row.id, err);
        else if (replies[0] === null || replies[0] === 'sending')
          await mailFill(row.account_id!, row.payload).then(
            () => sent.push(row.payload),
            (e: unknown) => failed.set(row.id, e),
          );
      }),
    );
    // A key left unmarked (Redis failing here) stays `sending`: a duplicate only if its row comes back.
    await pipelined(sent, (pipeline, p) => pipeline.set(mailKey(p), 'sent', 'KEEPTTL', 'XX'));
    // 4. Mark the batch: done by the next claim (after a crash before it, the relay that takes the lease
    // delivers the batch again: at least once), failures back to pending after a backoff that grows with
    // the attempts, or dead.
    for (const row of rows) if (!failed.has(row.id)) delivered.push(row.id);
    for (const row of rows) {
      if (!failed.has(row.id)) {
        metrics.processed.inc({
          event_type: row.event_type,
          outcome: superseded.has(row.id) ? 'superseded' : 'done',
        });
        metrics.delivery.observe((Date.now() - new Date(row.created_at).getTime()) / 1000);
        continue;
      }
      // The backoff grows with every failed attempt, whatever failed, up to 5 minutes: an outage's retries
      // stay few. Only the row's own failure makes it dead: an outage of any length leaves it pending.
      const err = failed.get(row.id);
      const dead = rowFault(err) && row.attempts >= maxAttempts;
      const backoff = Math.min(2 ** row.attempts, 300);
      await markOutboxFailed(sql, {
        id: row.id,
        dead,
        error: String((err as Error | null)?.message ?? err),
        backoffSeconds: backoff,
        published: published.has(row.id),
      });
      metrics.processed.inc({ event_type: row.event_type, outcome: dead ? 'dead' : 'retry' });
      logger.warn('outbox event failed', {
        id: row.id,
        event_type: row.event_type,
        attempts: row.attempts,
        dead,
        err,
      });
    }
    return rows.length;
  }

  async function measureLag(): Promise<void> {
    const backlog = await outboxBacklog(sql);
    metrics.pending.set(backlog.pending);
    metrics.lag.set(backlog.ageSeconds);
  }

  async function measureAttention(): Promise<void> {
    const failed = (gauge: string) => (err: unknown) => {
      metrics.attentionFailures.inc({ gauge });
      logger.warn('attention count failed', { gauge, err });
    };
    await Promise.all([
      // Bounded: a Temporal that does not answer holds neither the next count nor the relay's stop.
      deps.temporal
        .withDeadline(Date.now() + 10_000, () => deps.temporal.workflow.count(NEEDS_ATTENTION_QUERY))
        .then(({ count }) => metrics.needsAttention.set(count), failed('saga_needs_attention')),
      outboxDeadRows(sql).then(setDeadRows, failed('outbox_dead_rows')),
    ]);
  }

  /** Each type's dead rows, 0 for a type without any: reset and set in one turn, no scrape between. */
  function setDeadRows(rows: { eventType: string; dead: number }[]): void {
    metrics.dead.reset();
    for (const event_type of Object.values(EventType)) metrics.dead.set({ event_type }, 0);
    for (const { eventType, dead } of rows) metrics.dead.set({ event_type: eventType }, dead);
  }

  /** Counts at once, then every `attentionIntervalMs` after the last ones ended, while the relay runs. */
  function scheduleAttention(delayMs: number): void {
    if (!running) return;
    attentionTimer = setTimeout(() => {
      measuring = measureAttention().finally(() => {
        measuring = undefined;
        scheduleAttention(deps.attentionIntervalMs ?? 30_000);
      });
    }, delayMs);
  }

  /** A statement deletes its two batches in tens of milliseconds, on one connection of the pool: claims go on. */
  async function prune(): Promise<number> {
    let total = 0;
    for (;;) {
      const { market, expired } = await pruneOutbox(sql, {
        retentionDays: deps.retentionDays ?? OUTBOX_RETENTION_DAYS_DEFAULT,
        limit: pruneBatchSize,
      });
      metrics.pruned.inc({ kind: 'market' }, market);
      metrics.pruned.inc({ kind: 'expired' }, expired);
      total += market + expired;
      if ((market < pruneBatchSize && expired < pruneBatchSize) || stopping) return total;
    }
  }

  /** The next prune, `pruneIntervalMs` after the last one ended, while the relay runs. */
  function schedulePrune(): void {
    if (!running) return;
    pruneTimer = setTimeout(() => {
      pruning = prune()
        .catch((err: unknown) => logger.warn('outbox prune failed', { err }))
        .finally(() => {
          pruning = undefined;
          schedulePrune();
        });
    }, deps.pruneIntervalMs ?? 60_000);
  }

  return {
    processBatch,
    measureLag,
    measureAttention,
    prune,
    async start() {
      running = true;
      notified = true;
      const listener = await sql.listen('brokerx_outbox', () => {
        notified = true;
        wake?.();
      });
      unlisten = () => listener.unlisten();
      schedulePrune();
      scheduleAttention(0);
      loop = (async () => {
        while (running) {
          let n = 0;
          try {
            n = await processBatch();
          } catch (err) {
            logger.error('relay batch failed', { err });
          }
          // Claim again at once only when rows may be waiting: the batch was full, or a NOTIFY came
          // while it ran. Otherwise the next wake's claim marks this batch done.
          if (running && n < batchSize && !notified) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, deps.pollMs ?? 1000);
              wake = () => {
                clearTimeout(t);
                resolve();
              };
            });
            wake = undefined;
          }
        }
      })();
    },
    async stop() {
      running = false;
      clearTimeout(pruneTimer);
      clearTimeout(attentionTimer);
      stopping = true;
      wake?.();
      await Promise.all([loop, pruning, measuring]);
      stopping = false;
      // Standing by, it counts nothing: the active relay's counts are the only ones above 0.
      metrics.needsAttention.set(0);
      setDeadRows([]);
      await unlisten?.().catch(() => undefined);
      unlisten = undefined;
      // No next claim will mark the last batch: mark it now (a failure leaves it pending: the next relay
      // delivers it again).
      const done = delivered;
      delivered = [];
      await markOutboxDone(sql, done).catch((err: unknown) =>
        logger.warn('outbox rows left pending', { rows: done.length, err }),
      );
    },
  };
}
