/**
 * `npm run sagas:readopt [-- --apply]`: start the TradingSaga again of every open order (not terminal in
 * DATABASE_URL) that has no running saga in Temporal (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE): lost with
 * Temporal's database (docs/runbooks/temporal-outage.md) or terminated by an operator. Each is started
 * under its own workflow id, live, with the state the saga would hold for the row (its status, version,
 * quantity, price, fills and reservation), so that it can be cancelled, replaced, filled and expired
 * again. Without `--apply` it only prints what it would do. Running it again re-adopts nothing twice.
 * A pending order (its placement stopped half way) cannot be resumed live: it is listed, not touched.
 * Exit 0 when every open order has a running saga (or would have, dry run: none needs one), 1 when orders
 * remain without one, 2 when it cannot run.
 */
import { Client, Connection, type WorkflowClient } from '@temporalio/client';
import { asc, desc, eq, notInArray, or } from 'drizzle-orm';
import { applicationName, loadConfigOrExit, type Config } from '../lib/config.js';
import { calendarOf } from '../lib/sessions.js';
import { connectDatabase, type Db } from '../db/client.js';
import { orders, trades } from '../db/schema.js';
import type { OrderRow } from '../db/queries/orders.js';
import { shardOf } from '../matching/index.js';
import {
  MAX_KEPT_FILL_IDS,
  TRADING_TASK_QUEUE,
  fillSignal,
  matchingTaskQueue,
  orderClosedSignal,
  orderTriggeredSignal,
  withPrefix,
  type OrderRequest,
  type SagaState,
  type TradingSagaInput,
} from '../temporal/contracts.js';
import { TERMINAL_STATUSES, isTerminal } from '../temporal/orders.js';
import { readoptSaga, sagaRunning } from '../temporal/saga-recovery.js';

const apply = process.argv.includes('--apply');
const config = loadConfigOrExit(process.env);
const database = connectDatabase(config.DATABASE_URL, {
  max: 1,
  appName: applicationName({ ...config, INSTANCE_ID: 'sagas-readopt' }, 'sagas-readopt'),
});
let connection: Connection | undefined;
try {
  connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: 10_000 });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }).workflow;
  const open = await database.db
    .select()
    .from(orders)
    .where(notInArray(orders.status, [...TERMINAL_STATUSES]))
    .orderBy(asc(orders.createdAt), asc(orders.id));
  let left = 0;
  let done = 0;
  for (const row of open) {
    if (await sagaRunning(client, row.workflowId)) continue;
    const what = `order ${row.id} (${row.status}, saga ${row.workflowId})`;
    if (row.status === 'pending') {
      console.log(`${what}: not re-adopted: its placement stopped half way (docs/runbooks/stuck-saga.md)`);
      left++;
      continue;
    }
    const input = await resumeInput(database.db, config, row);
    if (!apply) {
      console.log(`${what}: would re-adopt`);
      left++;
      continue;
    }
    const outcome = await readoptSaga(client, {
      workflowId: row.workflowId,
      taskQueue: withPrefix(config.TASK_QUEUE_PREFIX, TRADING_TASK_QUEUE),
      input,
    });
    if (outcome === 'completed') {
      console.log(`${what}: not re-adopted: its saga completed, yet the order is open`);
      left++;
      continue;
    }
    if (outcome === 'started') await catchUp(database.db, client, row.workflowId, input.state!);
    console.log(`${what}: ${outcome === 'started' ? 're-adopted' : 'its saga runs already'}`);
    done++;
  }
  const verb = apply ? 're-adopted' : 'to re-adopt';
  console.log(
    `${apply ? done : left} ${verb}, ${apply ? left : 0} left without a saga, of ${open.length} open orders`,
  );
  process.exitCode = left ? 1 : 0;
} catch (err) {
  const cause = (err as { cause?: Error }).cause ?? (err as Error);
  console.error(`cannot re-adopt: ${cause.message}`);
  process.exitCode = 2;
} finally {
  await connection?.close();
  await database.close();
}

/**
 * The saga's input for an order, resumed live: the placement request (from its fingerprint, which
 * records the request as placed; else the row), its shard's queue and timeouts as the api sets them,
 * its DAY close (recorded with the order, else its session's close), and the state the saga holds for
 * the row: status, version, quantity, price, fills, reservation, the latest MAX_KEPT_FILL_IDS fill ids.
 */
async function resumeInput(db: Db, cfg: Config, row: OrderRow): Promise<TradingSagaInput> {
  const fills = await db
    .select({ id: trades.id })
    .from(trades)
    .where(or(eq(trades.buyOrderId, row.id), eq(trades.sellOrderId, row.id)))
    .orderBy(desc(trades.executedAt), desc(trades.id))
    .limit(MAX_KEPT_FILL_IDS);
  const state: SagaState = {
    orderId: row.id,
    status: row.status,
    phase: 'live',
    lockVersion: row.lockVersion,
    quantity: row.quantity.toString(),
    price: row.price?.toString(),
    filledQuantity: row.filledQuantity.toString(),
    reservedAmount: row.reservedAmount.toString(),
    rejectReason: row.rejectReason ?? undefined,
    fillIds: fills.map((f) => f.id).reverse(),
    compensations: [],
  };
  let expiresAt: string | undefined;
  if (row.timeInForce === 'DAY')
    expiresAt = (row.expiresAt ?? calendarOf(cfg).sessionAt(row.createdAt).close).toISOString();
  return {
    order: placedRequest(row),
    matchingTaskQueue: withPrefix(
      cfg.TASK_QUEUE_PREFIX,
      matchingTaskQueue(shardOf(row.symbol, cfg.MATCHING_SHARDS)),
    ),
    expiresAt,
    matchingStartToCloseMs: cfg.MATCHING_START_TO_CLOSE_MS,
    matchingScheduleToCloseMs: cfg.MATCHING_SCHEDULE_TO_CLOSE_MS,
    state,
  };
}

/** The placement request as the client sent it (temporal/contracts.ts `orderFingerprint`), else the row's. */
function placedRequest(row: OrderRow): OrderRequest {
  const request: OrderRequest = {
    orderId: row.id,
    accountId: row.accountId,
    clientOrderId: row.clientOrderId,
    symbol: row.symbol,
    side: row.side,
    orderType: row.orderType,
    timeInForce: row.timeInForce,
    quantity: row.quantity.toString(),
    price: row.price?.toString(),
    selfTradePrevention: row.selfTradePrevention,
    stopPrice: row.stopPrice?.toString(),
  };
  if (row.requestFingerprint === null) return request;
  type Placed = Required<OrderRequest>;
  const [symbol, side, orderType, timeInForce, quantity, price, selfTradePrevention, stopPrice] = JSON.parse(
    row.requestFingerprint,
  ) as [
    string,
    Placed['side'],
    Placed['orderType'],
    Placed['timeInForce'],
    string,
    string | null,
    Placed['selfTradePrevention'],
    string | undefined,
  ];
  return {
    ...request,
    symbol,
    side,
    orderType,
    timeInForce,
    quantity,
    price: price ?? undefined,
    selfTradePrevention,
    stopPrice,
  };
}

/**
 * The row may have moved between its read and the start (a fill, a close or a trigger in the shard),
 * and the relay's signal then found no saga: tell the new saga what the row says now, as the relay would.
 * Its handlers drop what it already counted.
 */
async function catchUp(db: Db, client: WorkflowClient, workflowId: string, was: SagaState): Promise<void> {
  const [now] = await db.select().from(orders).where(eq(orders.id, was.orderId));
  if (!now) return;
  const handle = client.getHandle(workflowId);
  const common = { orderId: now.id, status: now.status, reservedAmount: now.reservedAmount.toString() };
  if (now.filledQuantity.toString() !== was.filledQuantity) {
    const [last] = await db
      .select()
      .from(trades)
      .where(or(eq(trades.buyOrderId, now.id), eq(trades.sellOrderId, now.id)))
      .orderBy(desc(trades.executedAt), desc(trades.id))
      .limit(1);
    if (last)
      await handle.signal(fillSignal, {
        ...common,
        fillId: last.id,
        quantity: last.quantity.toString(),
        price: last.price.toString(),
        filledQuantity: now.filledQuantity.toString(),
      });
  } else if (isTerminal(now.status) && !isTerminal(was.status)) {
    await handle.signal(orderClosedSignal, common);
  } else if (was.status === 'pending_trigger' && now.status !== 'pending_trigger') {
    await handle.signal(orderTriggeredSignal, {
      ...common,
      triggeredAt: (now.triggeredAt ?? now.updatedAt).toISOString(),
    });
  }
}
