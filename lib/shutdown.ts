/** Run `stop` once on SIGTERM or SIGINT, then exit; a second signal exits at once. */
export function onShutdown(
  stop: (signal: NodeJS.Signals) => Promise<void>,
  log: (msg: string) => void,
): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`${signal} received, shutting down`);
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log(`shutdown failed: ${String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
