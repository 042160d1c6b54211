// k6 provides `console` (its output goes to k6's log); @types/k6 leaves it to lib.dom, which k6 scripts do
// not load.
declare const console: {
  log(...data: unknown[]): void;
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
};
