/**
 * The TradingSaga workflow's type, for everything that starts or talks to a saga (the api, the saga start,
 * the tests, the benchmarks): they use this type and never import workflows/. workflows/trading-saga.ts
 * implements it and fails to compile if the two drift apart.
 */
import type { SagaState, TradingSagaInput } from './contracts.js';

/** Workflow type name, as registered by the trading worker. */
export const TRADING_SAGA = 'TradingSaga';

/** One order's saga: started with its input, returns the final state (also what the `state` query reads). */
export type TradingSagaWorkflow = (input: TradingSagaInput) => Promise<SagaState>;
