/**
 * What the processes of the feed benchmark (load/bench-feed.ts) share: the workload's constants and the
 * messages between the servers' process, the publisher and the client processes.
 */
import type { ChildProcess } from 'node:child_process';

export const SUBSCRIBERS = 1000;
export const CLIENT_PROCESSES = 2;
export const SYMBOL = 'BENCH';
/** Latency histogram: 1 ms buckets (the frames' `ts` has millisecond resolution) up to 10 s. */
export const LAT_MAX_MS = 10_000;

export const accountOf = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

/** feed: api/ws; bare: a plain `ws` broadcast; batched: the same with the feed's write batching per tick. */
export type Target = 'feed' | 'bare' | 'batched';
export const BARE_TARGETS = ['bare', 'batched'] as const;

// ---- messages between the processes ------------------------------------------------------------

/**
 * The measurement window is set in wall-clock time before a step starts, so that busy clients (late
 * to read their IPC messages) still measure the same window: frames published in [t0, t1) (by their
 * `ts`) give the latency and the completeness; frames that arrived in [t0, t1) give the throughput.
 */
export type ClientCommand =
  | { cmd: 'connect'; urls: Record<Target, string>; from: number; count: number }
  | { cmd: 'window'; target: Target; t0: number; t1: number }
  | { cmd: 'report' }
  | { cmd: 'quiet' }
  | { cmd: 'exit' };
export interface ClientReport {
  /** Frames published in the window that arrived (at any time). */
  published: number;
  /** Frames that arrived in the window, and their bytes. */
  arrived: number;
  bytes: number;
  /** Latency of the frames published in the window, 1 ms buckets. */
  hist: number[];
  closed: Record<Target, number>;
  /** CPU of the client process from t0 to t1 (sampled on its own timers), in ms. */
  cpuMs: number;
}
export type PublisherCommand =
  | { cmd: 'run'; target: Target; rate: number; ms: number; prefix: string; t0: number; t1: number }
  | { cmd: 'exit' };
/** Messages published with a `ts` inside the window: market updates (or bare frames) and execution reports. */
export interface PublisherReport {
  market: number;
  executions: number;
  /** Bytes of those market messages. */
  marketBytes: number;
}

export function send(child: ChildProcess, message: unknown): void {
  child.send(message as object);
}

export function request<T>(child: ChildProcess, message: unknown): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    send(child, message);
  });
}
