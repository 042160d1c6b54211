import { afterEach, describe, expect, it, vi } from 'vitest';
import { exitWhileStarting, onShutdown } from './shutdown.js';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
const ours = new Map(SIGNALS.map((s) => [s, process.listeners(s)]));

afterEach(() => {
  vi.useRealTimers();
  // Only the handlers a test installed: vitest's own stay.
  for (const s of SIGNALS)
    for (const l of process.listeners(s)) if (!ours.get(s)!.includes(l)) process.off(s, l);
});

/** onShutdown with fake timers and a recorded exit instead of process.exit. */
function install(stop: () => Promise<void>, timeoutMs = 1000) {
  vi.useFakeTimers();
  const exits: number[] = [];
  const lines: string[] = [];
  onShutdown(stop, (m) => lines.push(m), { timeoutMs, exit: (code) => void exits.push(code) });
  return { exits, lines };
}

describe('onShutdown', () => {
  it('exits 0 once stop has finished', async () => {
    const { exits, lines } = install(async () => {});
    process.emit('SIGTERM', 'SIGTERM');
    await vi.advanceTimersByTimeAsync(0);
    expect(exits).toEqual([0]);
    expect(lines).toEqual(['SIGTERM received, shutting down']);
  });

  it('gives up when stop still runs at the deadline: "shutdown timed out", exit 1', async () => {
    const { exits, lines } = install(() => new Promise<void>(() => {}), 1000);
    process.emit('SIGTERM', 'SIGTERM');
    await vi.advanceTimersByTimeAsync(999);
    expect(exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(exits).toEqual([1]);
    expect(lines).toEqual(['SIGTERM received, shutting down', 'shutdown timed out']);
  });

  it('exits 1 when stop fails', async () => {
    const { exits, lines } = install(() => Promise.reject(new Error('redis gone')));
    process.emit('SIGINT', 'SIGINT');
    await vi.advanceTimersByTimeAsync(0);
    expect(exits).toEqual([1]);
    expect(lines).toEqual(['SIGINT received, shutting down', 'shutdown failed: Error: redis gone']);
  });

  it('exits 1 at once on a second signal', () => {
    const { exits } = install(() => new Promise<void>(() => {}));
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([1]);
  });
});

describe('exitWhileStarting', () => {
  it('exits 0 at once on a signal while the process starts', () => {
    const exits: number[] = [];
    const lines: string[] = [];
    exitWhileStarting((m) => lines.push(m), { exit: (code) => void exits.push(code) });
    process.emit('SIGTERM', 'SIGTERM');
    expect(exits).toEqual([0]);
    expect(lines).toEqual(['SIGTERM received while starting, exiting']);
  });

  it('gives way to onShutdown once the process has started: a signal then runs stop', async () => {
    const exits: number[] = [];
    exitWhileStarting(() => {}, { exit: (code) => void exits.push(code) });
    let stopped = false;
    const { exits: after, lines } = install(async () => void (stopped = true));
    process.emit('SIGINT', 'SIGINT');
    await vi.advanceTimersByTimeAsync(0);
    expect(exits).toEqual([]);
    expect(stopped).toBe(true);
    expect(after).toEqual([0]);
    expect(lines).toEqual(['SIGINT received, shutting down']);
  });
});
