/**
 * JSON-lines logging on pino: `logger.info(msg, fields)`, one line per call on stdout, with the time,
 * the level name, the process's base fields and those of `withLogContext` (the api's request id).
 *
 * Every line is redacted before it is written, wherever the data sits (message, fields, nested
 * objects, errors and their causes): values under secret-like keys (password, token, secret,
 * authorization, cookie, TOTP and one-time codes) become `[redacted]`, and in every string e-mail
 * addresses are masked (`a***@example.com`), as are bearer tokens, JWTs, URL passwords and secret
 * query parameters. Errors keep their `cause` chain (and an AggregateError its `errors`).
 *
 * A string longer than MAX_TEXT_LENGTH (an error's stack: MAX_STACK_LENGTH) is cut there and marked
 * (`...[cut from 15801 chars]`): redaction reads only the kept part and the end of the word the cut falls
 * in, and its patterns take time linear in what they read, so no logged value (a request path of 15,000
 * characters) holds the event loop.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream } from 'pino';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const context = new AsyncLocalStorage<LogFields>();

/** Run `fn` with `fields` added to every line logged inside it, by any logger (the api's request id). */
export function withLogContext<T>(fields: LogFields, fn: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, fn);
}

/** `destination` receives the JSON lines; stdout (synchronous writes) unless given. */
export function createLogger(level: LogLevel, base: LogFields = {}, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: null, // no pid or hostname: the process says who it is through `base`
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: () => context.getStore() ?? {},
    serializers: { err: (err: unknown) => err }, // already serialized, with its causes, by redactValue
  };
  const root = destination ? pino(options, destination) : pino(options);
  return wrap(root.child(redactFields(base)));
}

function wrap(p: pino.Logger): Logger {
  const log = (level: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: LogFields) => {
    if (!p.isLevelEnabled(level)) return;
    p[level](fields ? redactFields(fields) : {}, redactText(msg));
  };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => wrap(p.child(redactFields(fields))),
  };
}

const REDACTED = '[redacted]';
const MAX_DEPTH = 10;

/** Key words (snake_case segments) whose string or object values are secrets. */
const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'passphrase',
  'pass',
  'pwd',
  'token',
  'tokens',
  'jwt',
  'secret',
  'secrets',
  'authorization',
  'cookie',
  'cookies',
  'apikey',
  'jwk',
  'otp',
  'totp',
  'otpauth',
  'mfa',
]);
/** A bare `code` is redacted only when it looks like a one-time code (errors have codes too). */
const ONE_TIME_CODE = /^\d{6,8}$/;

function isSecretKey(key: string, value: unknown): boolean {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined)
    return false;
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/api_key/g, 'apikey')
    .split(/[^a-z0-9]+/);
  if (words.some((w) => SECRET_WORDS.has(w))) return true;
  if (words.at(-1) === 'code' || words.at(-1) === 'codes') {
    return words.length > 1 || (typeof value === 'string' && ONE_TIME_CODE.test(value));
  }
  return false;
}

/** Strings are cut past this many characters; redaction reads at most WORD_TAIL more. */
export const MAX_TEXT_LENGTH = 1024;
/** An error's stack (its frames are what it is logged for). */
const MAX_STACK_LENGTH = 8192;
/** How far past the cut redaction reads to finish the word there (an e-mail address has at most 254). */
const WORD_TAIL = 256;
/** Where a word ends for the cut: a secret's start before one of these is masked without its rest. */
const WORD_BREAK = /[\s/?#]/;

/**
 * Each pattern is anchored on a literal or on the start of a run of its characters, so that it reads
 * every character a bounded number of times: an unanchored `\b[a-z][a-z0-9+.-]*:` tries every position
 * of a run like 'a-a-a-...' and reads to its end each time (quadratic).
 */
const TEXT_RULES: [RegExp, string][] = [
  // scheme://user:password@host (from each ':', the scheme looked up behind it)
  [/:(?<=\b[a-z][a-z0-9+.-]*:)\/\/([^\s:/?#@]*:)[^\s@/?#]+@/gi, `://$1${REDACTED}@`],
  // Authorization header values
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  // JWTs anywhere (header.payload.signature, the header base64 of '{"'), from the start of a run of
  // base64url characters followed by two dots
  [
    /(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.)([A-Za-z0-9_-]*?)\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g,
    `$1${REDACTED}`,
  ],
  // ?token=..., &code=... in logged URLs
  [/([?&](?:[a-z_]*token|code|password|secret|key)=)[^&\s#"']+/gi, `$1${REDACTED}`],
];

/**
 * `text` redacted; longer than `max` characters, cut there and marked. Redaction reads on to the end of
 * the word the cut falls in (an e-mail address or a URL password cut short would not match, and would
 * be written half), at most WORD_TAIL further; a longer word loses its last WORD_TAIL characters too.
 */
export function redactText(text: string, max = MAX_TEXT_LENGTH): string {
  if (text.length <= max) return redact(text);
  const limit = Math.min(text.length, max + WORD_TAIL);
  let end = max;
  while (end < limit && !WORD_BREAK.test(text.charAt(end))) end++;
  const redacted = redact(text.slice(0, end));
  const wordGoesOn = end < text.length && !WORD_BREAK.test(text.charAt(end));
  const keep = Math.max(0, Math.min(max, wordGoesOn ? redacted.length - WORD_TAIL : max));
  return `${redacted.slice(0, keep)}...[cut from ${text.length} chars]`;
}

function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of TEXT_RULES) out = out.replace(pattern, replacement);
  return maskEmails(out);
}

const LOCAL_CHAR = /[A-Za-z0-9._%+-]/;
const FIRST_CHAR = /[A-Za-z0-9_%+-]/;
const WORD_CHAR = /\w/;
const DOMAIN = /[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b/y;

/**
 * E-mail addresses: the first character of the local part and the domain stay (`a***@example.com`).
 * The same as replacing /\b([A-Za-z0-9_%+-])[A-Za-z0-9._%+-]*@(DOMAIN)/g with '$1***@$2', found from
 * each '@' instead, since that pattern reads a long run of local-part characters once per position.
 */
function maskEmails(text: string): string {
  let out = '';
  let done = 0; // the text before it is in `out`
  const boundary = (i: number) => WORD_CHAR.test(text.charAt(i - 1)) !== WORD_CHAR.test(text.charAt(i));
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    let first = at;
    while (first > done && LOCAL_CHAR.test(text.charAt(first - 1))) first--;
    // The address starts at the first character that may start it, at a word boundary (`\b`).
    while (first < at && !(FIRST_CHAR.test(text.charAt(first)) && boundary(first))) first++;
    if (first === at) continue;
    DOMAIN.lastIndex = at + 1;
    if (!DOMAIN.test(text)) continue;
    out += `${text.slice(done, first + 1)}***@${text.slice(at + 1, DOMAIN.lastIndex)}`;
    done = DOMAIN.lastIndex;
  }
  return out + text.slice(done);
}

function redactFields(fields: LogFields): LogFields {
  return redactObject(fields, 0, new WeakSet());
}

function redactObject(obj: object, depth: number, ancestors: WeakSet<object>): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(obj)) {
    if (isSecretKey(key, value)) out[key] = REDACTED;
    else if (key === 'stack' && typeof value === 'string') out[key] = redactText(value, MAX_STACK_LENGTH);
    else out[key] = redactValue(value, depth + 1, ancestors);
  }
  return out;
}

function redactValue(value: unknown, depth: number, ancestors: WeakSet<object>): unknown {
  switch (typeof value) {
    case 'string':
      return redactText(value);
    case 'bigint':
      return value.toString();
    case 'function':
    case 'symbol':
      return undefined;
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return null;
  if (ancestors.has(value)) return '[circular]';
  if (depth > MAX_DEPTH) return '[too deep]';
  if (value instanceof Date) return value.toISOString();
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  ancestors.add(value);
  try {
    if (value instanceof Error) return redactObject(errorFields(value), depth, ancestors);
    if (Array.isArray(value)) return value.map((v: unknown) => redactValue(v, depth + 1, ancestors));
    if (value instanceof Map) {
      const entries = [...(value as Map<unknown, unknown>)].map(([k, v]) => [String(k), v] as const);
      return redactObject(Object.fromEntries(entries), depth, ancestors);
    }
    if (value instanceof Set) return [...value].map((v: unknown) => redactValue(v, depth + 1, ancestors));
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return redactValue(toJSON.call(value), depth + 1, ancestors);
    return redactObject(value, depth, ancestors);
  } finally {
    ancestors.delete(value);
  }
}

/** An error as fields: name, message, stack, its own properties (code, details, ...) and its cause chain. */
function errorFields(err: Error): LogFields {
  const out: LogFields = { name: err.name, message: err.message, stack: err.stack };
  for (const [key, value] of Object.entries(err)) {
    // `failure` is the Temporal SDK's raw protobuf copy of the chain already in `cause`.
    if (!(key in out) && key !== 'failure') out[key] = value;
  }
  if (err.cause !== undefined) out.cause = err.cause;
  if (err instanceof AggregateError) out.errors = err.errors;
  return out;
}
