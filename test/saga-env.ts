/**
 * The fast saga tier's harness (the pattern of temporalio/samples-typescript): the real TradingSaga
 * bundle on a local Temporal dev server (`TestWorkflowEnvironment.createLocal`, the CLI built by
 * `npm run tools`), with fake activities that record every call. The order steps run as the saga's
 * local activities on the trading queue; the matching steps run on the shard's own task queue, as in
 * production, against an in-memory book that keeps `lock_version` like the shard engine.
 *
 * Tests isolate themselves by order id: each scripts its own faults (`script`) and reads its own calls.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type InjectedSinks } from '@temporalio/worker';
import type {
  MatchingActivities,
  OrderActivities,
  OrderSnapshot,
  PendingOrder,
} from '../temporal/activities.js';
import {
  TRADING_TASK_QUEUE,
  matchingTaskQueue,
  orderWorkflowId,
  placeOrderUpdate,
  type FillSignal,
  type OrderAck,
  type OrderRequest,
  type TradingSagaInput,
} from '../temporal/contracts.js';
import { businessFailure, FailureType } from '../temporal/failures.js';
import { isTerminal, type CancelReason, type OrderStatus } from '../temporal/orders.js';
import { dynamicConfigValues } from '../devstack/dev-server.js';
import { tradingSagaStart } from '../temporal/saga-start.js';
import { AccountIdKey, OrderIdKey, OrderStatusKey, SymbolKey } from '../temporal/search-attributes.js';
import { buildWorkflowBundle } from '../workers/trading/bundle.js';
import type { SagaSinks, TradingSaga } from '../workflows/trading-saga.js';

/** The server suggests continue-as-new past this many events (the saga's own limit is 2,000). */
export const SUGGEST_CONTINUE_AS_NEW_AT = 120;

export const temporalBinary = (toolsDir: string) => join(toolsDir, 'temporal');

/**
 * A local dev server and one worker of the workflow bundle on `taskQueue` with `activities`, for the tests
 * of a workflow other than the saga (MarketControls). `stop` shuts the worker down, then the server.
 */
export async function startBundleWorker(
  temporalPath: string,
  taskQueue: string,
  activities: object,
): Promise<{ env: TestWorkflowEnvironment; stop: () => Promise<void> }> {
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalPath }, ip: '127.0.0.1' },
  });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await buildWorkflowBundle(),
    activities,
  });
  const running = worker.run();
  return {
    env,
    stop: async () => {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}

type Step = keyof OrderActivities | keyof MatchingActivities;
/** A scripted step for one order: runs instead of the fake's default (`next`), per attempt (1, 2, ...). */
type Override = (args: never, attempt: number, next: () => unknown) => unknown;

export interface Call {
  orderId: string;
  step: Step;
  args: Record<string, unknown>;
  /** Where it ran: the trading queue (as a local activity) or the shard's queue. */
  taskQueue: string;
  local: boolean;
}

export interface SinkCall {
  workflowId: string;
  name: keyof SagaSinks['sagaMetrics'];
  args: unknown[];
}

/** A non-retryable infrastructure failure, as an activity whose retries are exhausted reports it. */
export const fault = (step: string) =>
  ApplicationFailure.create({
    type: 'InjectedFault',
    message: `injected failure in ${step}`,
    nonRetryable: true,
  });

export interface SagaEnv {
  env: TestWorkflowEnvironment;
  tradingQueue: string;
  shardQueue: string;
  /** Every activity call of one order, as `step` or `cancelOrder(reason)`, in the order they ran. */
  steps(orderId: string): string[];
  calls(orderId: string, step?: Step): Call[];
  /** The arguments of each call the saga made to one of its metrics sinks (not called during replay). */
  metrics(workflowId: string, name: SinkCall['name']): unknown[][];
  /** The shard commits a trade of the order (its fill state becomes `filledQuantity`); returns the relay's signal. */
  trade(orderId: string, fillId: string, filledQuantity: string): FillSignal;
  /** The fake shard's committed view of an order. */
  shardView(orderId: string): OrderSnapshot;
  /** Replace steps of one order's fakes (the rest keep their defaults). */
  script(orderId: string, overrides: Partial<Record<Step, Override>>): void;
  /** A fresh order (unique ids); GTC limit buy of 10 at 160.00 unless overridden. */
  order(over?: Partial<OrderRequest>): OrderRequest;
  /** Start the saga the way the api does (update-with-start) and return its ACK. */
  place(
    order: OrderRequest,
    extra?: Partial<TradingSagaInput>,
  ): Promise<{ ack: OrderAck; handle: WorkflowHandle<typeof TradingSaga> }>;
  /** Start without waiting for the ACK. */
  start(order: OrderRequest, extra?: Partial<TradingSagaInput>): Promise<WorkflowHandle<typeof TradingSaga>>;
  close(): Promise<void>;
}

export async function startSagaEnv(temporalPath: string): Promise<SagaEnv> {
  // The SDK's own worker logs (a failed activity per injected fault) would drown the test output.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const [env, bundle] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalPath },
        ip: '127.0.0.1',
        searchAttributes: [OrderIdKey, AccountIdKey, SymbolKey, OrderStatusKey],
        log: { format: 'json', level: 'error' },
        extraArgs: [
          ...dynamicConfigValues().flatMap((kv) => ['--dynamic-config-value', kv]),
          '--dynamic-config-value',
          `limit.historyCount.suggestContinueAsNew=${SUGGEST_CONTINUE_AS_NEW_AT}`,
        ],
      },
    }),
    buildWorkflowBundle(),
  ]);

  const prefix = `saga-${randomUUID().slice(0, 8)}-`;
  const tradingQueue = prefix + TRADING_TASK_QUEUE;
  const shardQueue = prefix + matchingTaskQueue(0);

  const calls: Call[] = [];
  const sinkCalls: SinkCall[] = [];
  const scripts = new Map<string, Partial<Record<Step, Override>>>();
  const attempts = new Map<string, number>();
  /** The shard's committed view of each order (lock_version, status, reservation). */
  const book = new Map<string, OrderSnapshot & { side: OrderRequest['side']; lastRequestId?: string }>();

  const record = async <T>(orderId: string, step: Step, args: object, fallback: () => T): Promise<T> => {
    const { taskQueue, isLocal } = Context.current().info;
    calls.push({ orderId, step, args: { ...args }, taskQueue, local: isLocal });
    const key = `${orderId}:${step}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const override = scripts.get(orderId)?.[step];
    return override ? ((await override(args as never, attempt, fallback)) as T) : fallback();
  };

  const reserveFor = (side: OrderRequest['side'], quantity: string, price = '0') =>
    side === 'buy' ? (BigInt(quantity) * BigInt(price)).toString() : quantity;
  const snapshot = (orderId: string): OrderSnapshot => {
    const o = book.get(orderId);
    if (!o) throw businessFailure(FailureType.InvalidOrder, `Unknown order ${orderId}`);
    const { side: _side, lastRequestId: _last, ...snap } = o;
    return { ...snap, fillIds: [...snap.fillIds] };
  };
  const refuse = businessFailure;

  const orderActivities: OrderActivities = {
    validateOrder: (order) =>
      record(order.orderId, 'validateOrder', order, () => ({
        reserveAsset: order.side === 'buy' ? 'USD' : order.symbol,
        reserveAmount: reserveFor(order.side, order.quantity, order.price),
        reservePrice: order.price ?? '0',
      })),
    reserveFunds: (args) =>
      record(args.order.orderId, 'reserveFunds', args, () => {
        pend(args);
        return { persisted: true };
      }),
    persistOrder: (args) =>
      record(args.order.orderId, 'persistOrder', args, () => {
        if (!args.persisted) pend(args);
      }),
    releaseReservation: (args) => record(args.orderId, 'releaseReservation', args, () => undefined),
  };
  /** The fake's record of an order pending: what the reserve step writes (and the persist of older sagas). */
  function pend({ order, reserved }: PendingOrder): void {
    book.set(order.orderId, {
      orderId: order.orderId,
      side: order.side,
      status: 'pending',
      lockVersion: 0,
      filledQuantity: '0',
      reservedAmount: reserved.reserveAmount,
      quantity: order.quantity,
      price: order.price,
      fillIds: [],
    });
  }

  const closedBy: Record<CancelReason, OrderStatus> = {
    user: 'cancelled',
    expired: 'expired',
    compensation: 'rejected',
  };
  const matchingActivities: MatchingActivities = {
    submitOrder: (args) =>
      record(args.orderId, 'submitOrder', args, () => {
        const o = book.get(args.orderId);
        if (o?.status === 'pending') o.status = 'working';
        return snapshot(args.orderId);
      }),
    cancelOrder: (args) =>
      record(args.orderId, 'cancelOrder', args, () => {
        const o = book.get(args.orderId);
        if (!o) throw refuse(FailureType.InvalidOrder, `Unknown order ${args.orderId}`);
        if (isTerminal(o.status) || (args.requestId && o.lastRequestId === args.requestId))
          return snapshot(args.orderId);
        if (
          args.reason === 'user' &&
          args.clientVersion !== undefined &&
          args.clientVersion !== o.lockVersion
        )
          throw refuse(
            FailureType.VersionConflict,
            `client_version ${args.clientVersion} does not match lock_version ${o.lockVersion}`,
          );
        Object.assign(o, {
          status: closedBy[args.reason],
          reservedAmount: '0',
          lockVersion: o.lockVersion + 1,
          lastRequestId: args.requestId,
        });
        return snapshot(args.orderId);
      }),
    replaceOrder: (args) =>
      record(args.orderId, 'replaceOrder', args, () => {
        const o = book.get(args.orderId);
        if (!o) throw refuse(FailureType.InvalidOrder, `Unknown order ${args.orderId}`);
        if (args.requestId && o.lastRequestId === args.requestId) return snapshot(args.orderId);
        if (isTerminal(o.status)) throw refuse(FailureType.OrderTerminal, `Order is ${o.status}`);
        if (args.clientVersion !== o.lockVersion)
          throw refuse(
            FailureType.VersionConflict,
            `client_version ${args.clientVersion} does not match lock_version ${o.lockVersion}`,
          );
        const quantity = args.quantity ?? o.quantity;
        const price = args.price ?? o.price;
        const leaves = (BigInt(quantity) - BigInt(o.filledQuantity)).toString();
        Object.assign(o, {
          quantity,
          price,
          reservedAmount: reserveFor(o.side, leaves, price),
          lockVersion: o.lockVersion + 1,
          lastRequestId: args.requestId,
        });
        return snapshot(args.orderId);
      }),
  };

  const sink = (name: SinkCall['name']) => ({
    fn: (info: { workflowId: string }, ...args: unknown[]) =>
      void sinkCalls.push({ workflowId: info.workflowId, name, args }),
  });
  const sinks: InjectedSinks<SagaSinks> = {
    sagaMetrics: {
      started: sink('started'),
      completed: sink('completed'),
      compensation: sink('compensation'),
      acked: sink('acked'),
    },
  };

  const { nativeConnection: connection, namespace = 'default' } = env;
  const trading = await Worker.create({
    connection,
    namespace,
    taskQueue: tradingQueue,
    workflowBundle: bundle,
    activities: orderActivities,
    sinks,
  });
  const shard = await Worker.create({
    connection,
    namespace,
    taskQueue: shardQueue,
    activities: matchingActivities,
  });
  const running = Promise.all([trading.run(), shard.run()]);

  const inputOf = (order: OrderRequest, extra: Partial<TradingSagaInput>): TradingSagaInput => ({
    order,
    matchingTaskQueue: shardQueue,
    ...extra,
  });
  const workflowIdOf = (order: OrderRequest) => orderWorkflowId(order.accountId, order.clientOrderId);

  return {
    env,
    tradingQueue,
    shardQueue,
    steps: (orderId) =>
      calls
        .filter((c) => c.orderId === orderId)
        .map((c) => (c.step === 'cancelOrder' ? `cancelOrder(${String(c.args.reason)})` : c.step)),
    calls: (orderId, step) => calls.filter((c) => c.orderId === orderId && (!step || c.step === step)),
    metrics: (workflowId, name) =>
      sinkCalls.filter((s) => s.workflowId === workflowId && s.name === name).map((s) => s.args),
    shardView: snapshot,
    trade(orderId, fillId, filledQuantity) {
      const o = book.get(orderId);
      if (!o) throw new Error(`no order ${orderId} in the fake book`);
      const quantity = (BigInt(filledQuantity) - BigInt(o.filledQuantity)).toString();
      const leaves = (BigInt(o.quantity) - BigInt(filledQuantity)).toString();
      Object.assign(o, {
        filledQuantity,
        status: leaves === '0' ? 'filled' : 'partially_filled',
        reservedAmount: reserveFor(o.side, leaves, o.price),
      });
      o.fillIds.push(fillId);
      return {
        fillId,
        orderId,
        quantity,
        price: o.price ?? '0',
        filledQuantity,
        status: o.status,
        reservedAmount: o.reservedAmount,
      };
    },
    script: (orderId, overrides) => void scripts.set(orderId, { ...scripts.get(orderId), ...overrides }),
    order: (over = {}) => ({
      orderId: randomUUID(),
      accountId: randomUUID(),
      clientOrderId: randomUUID(),
      symbol: 'AAPL',
      side: 'buy',
      orderType: 'limit',
      timeInForce: 'GTC',
      quantity: '10',
      price: '16000',
      ...over,
    }),
    async place(order, extra = {}) {
      const op = tradingSagaStart(workflowIdOf(order), tradingQueue, inputOf(order, extra));
      const ack = await env.client.workflow.executeUpdateWithStart(placeOrderUpdate, {
        startWorkflowOperation: op,
      });
      return { ack, handle: env.client.workflow.getHandle<typeof TradingSaga>(workflowIdOf(order)) };
    },
    async start(order, extra = {}) {
      return env.client.workflow.start<typeof TradingSaga>('TradingSaga', {
        workflowId: workflowIdOf(order),
        taskQueue: tradingQueue,
        args: [inputOf(order, extra)],
      });
    },
    async close() {
      trading.shutdown();
      shard.shutdown();
      await running;
      await env.teardown();
    },
  };
}
