import { describe, expect, it } from 'vitest';
import { createLogger, MAX_TEXT_LENGTH, redactText, withLogContext, type LogLevel } from './logger.js';
import { sdkLogger } from './temporal-runtime.js';

/** A logger writing into an array of parsed lines. */
function capture(level: LogLevel = 'debug', base: Record<string, unknown> = {}) {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logger = createLogger(level, base, {
    write(line: string) {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, lines, raw };
}

describe('createLogger', () => {
  it('writes one JSON line with time, level name, message, base and fields', () => {
    const { logger, lines, raw } = capture('info', { service: 'api' });
    logger.info('api listening', { instance: 'api-1', big: 12345678901234567890n });
    expect(raw).toHaveLength(1);
    expect(raw[0]!.endsWith('\n')).toBe(true);
    const line = lines[0]!;
    expect(line).toMatchObject({
      level: 'info',
      msg: 'api listening',
      service: 'api',
      instance: 'api-1',
      big: '12345678901234567890',
    });
    expect(new Date(line.time as string).toISOString()).toBe(line.time);
    expect(line).not.toHaveProperty('pid');
    expect(line).not.toHaveProperty('hostname');
  });

  it('drops lines below its level; silent writes nothing', () => {
    const warn = capture('warn');
    warn.logger.debug('d');
    warn.logger.info('i');
    warn.logger.warn('w');
    warn.logger.error('e');
    expect(warn.lines.map((l) => l.level)).toEqual(['warn', 'error']);
    const silent = capture('silent');
    silent.logger.error('e');
    expect(silent.lines).toEqual([]);
  });

  it('child loggers add their fields', () => {
    const { logger, lines } = capture('info', { service: 'feed' });
    logger.child({ connection_id: 'c1' }).child({ account_id: 'a1' }).info('open');
    expect(lines[0]).toMatchObject({ service: 'feed', connection_id: 'c1', account_id: 'a1', msg: 'open' });
  });

  it('adds the fields of withLogContext to every line inside it, including after awaits', async () => {
    const { logger, lines } = capture('info');
    await withLogContext({ request_id: 'req-1' }, async () => {
      logger.info('first');
      await new Promise((r) => setTimeout(r, 1));
      logger.child({ component: 'x' }).info('second');
    });
    logger.info('outside');
    expect(lines.map((l) => l.request_id)).toEqual(['req-1', 'req-1', undefined]);
  });
});

describe('redaction', () => {
  it('redacts secret-like keys at any depth, keeping numbers and error codes', () => {
    const { logger, lines, raw } = capture();
    logger.info('login', {
      password: 'hunter2',
      refreshToken: 'rt-secret',
      nested: { headers: { Authorization: 'Bearer abc.def', cookie: 'sid=1', 'set-cookie': ['a=b'] } },
      list: [{ totp_secret: 'JBSWY3DPEHPK3PXP' }, { mfa_code: '123456' }],
      code: '654321',
      otpauth_uri: 'otpauth://totp/BrokerX:x?secret=JBSWY3DP',
      access_token_ttl_seconds: 900,
      api_key: 'k-1',
    });
    const line = lines[0]!;
    expect(line).toMatchObject({
      password: '[redacted]',
      refreshToken: '[redacted]',
      nested: { headers: { Authorization: '[redacted]', cookie: '[redacted]', 'set-cookie': '[redacted]' } },
      list: [{ totp_secret: '[redacted]' }, { mfa_code: '[redacted]' }],
      code: '[redacted]',
      otpauth_uri: '[redacted]',
      access_token_ttl_seconds: 900,
      api_key: '[redacted]',
    });
    for (const secret of [
      'hunter2',
      'rt-secret',
      'abc.def',
      'sid=1',
      'JBSWY3DP',
      '123456',
      '654321',
      'k-1',
    ]) {
      expect(raw[0]).not.toContain(secret);
    }

    logger.error('db', { code: 'ECONNREFUSED', err: Object.assign(new Error('dup'), { code: '23505' }) });
    expect(lines[1]).toMatchObject({ code: 'ECONNREFUSED', err: { code: '23505' } });
  });

  it('masks e-mail addresses in messages, fields, base fields and error texts', () => {
    const { logger, lines, raw } = capture('info', { owner: 'ops@brokerx.local' });
    logger.error('mail delivery failed for alice.smith@example.com', {
      to: 'Bob <bob@mail.example.org>',
      err: new Error('550 mailbox carol+x@example.co.uk unavailable'),
    });
    const line = lines[0]!;
    expect(line.msg).toBe('mail delivery failed for a***@example.com');
    expect(line.to).toBe('Bob <b***@mail.example.org>');
    expect(line.owner).toBe('o***@brokerx.local');
    expect((line.err as { message: string }).message).toBe('550 mailbox c***@example.co.uk unavailable');
    expect(raw[0]).not.toMatch(/alice|bob@|carol|ops@/);
  });

  it('masks bearer tokens, JWTs, URL passwords and secret query parameters inside text', () => {
    const { logger, lines } = capture();
    const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';
    logger.warn('upstream said no', {
      detail: `header Bearer abc123 and ${jwt}`,
      url: 'postgres://app:s3cret@db.internal:5432/brokerx',
      link: 'https://brokerx.local/verify?token=tok123&lang=en',
    });
    expect(lines[0]).toMatchObject({
      detail: 'header Bearer [redacted] and [redacted]',
      url: 'postgres://app:[redacted]@db.internal:5432/brokerx',
      link: 'https://brokerx.local/verify?token=[redacted]&lang=en',
    });
  });
});

describe('long strings', () => {
  const MARKER = /\.\.\.\[cut from (\d+) chars\]$/;

  it('cuts a string past MAX_TEXT_LENGTH, marked, and still redacts what it keeps', () => {
    const { logger, lines } = capture();
    // A request path of 15,801 characters, which the former patterns took about a second to read.
    const path = `/verify/alice.smith@example.com?token=tok123&x=${'a-'.repeat(7900)}`;
    logger.info(`no route for ${path}`, { path, list: [path] });
    const line = lines[0] as { msg: string; path: string; list: string[] };
    for (const value of [line.msg, line.path, line.list[0]!]) {
      expect(value).toMatch(MARKER);
      // At most MAX_TEXT_LENGTH: redaction made the kept part 3 characters shorter.
      expect(value.replace(MARKER, '').length).toBe(MAX_TEXT_LENGTH - 3);
      expect(value).not.toMatch(/alice|tok123/);
    }
    expect(line.path).toMatch(/^\/verify\/a\*\*\*@example\.com\?token=\[redacted\]&x=a-a-/);
    expect(MARKER.exec(line.path)![1]).toBe(String(path.length));
  });

  it('does not write the start of a secret that the cut falls in', () => {
    const pad = (text: string, at: number) =>
      `${' '.repeat(MAX_TEXT_LENGTH - at)}${text} ${'x '.repeat(600)}`;
    // The cut 5 characters into an e-mail address and into a URL's password.
    expect(redactText(pad('alice.smith@example.com', 5))).not.toMatch(/lice|smith/);
    expect(redactText(pad('postgres://app:s3cretpassword@db:5432', 19))).not.toMatch(/s3cr/);
    // A word longer than the cut reads: it loses its last 256 characters after redaction.
    const list = redactText(`to=${'bob.smith@example.com,'.repeat(200)}`);
    expect(list).toMatch(MARKER);
    expect(list).not.toMatch(/ob\.smith|[^*]@/);
    // Within the length, nothing is cut.
    expect(redactText('x'.repeat(MAX_TEXT_LENGTH))).toBe('x'.repeat(MAX_TEXT_LENGTH));
  });

  it('keeps up to 8 KiB of an error stack', () => {
    const { logger, lines } = capture();
    const err = new Error('m'.repeat(3000));
    logger.error('failed', { err });
    const written = lines[0]!.err as { message: string; stack: string };
    expect(written.message).toMatch(MARKER);
    expect(written.stack).toBe(err.stack);
  });
});

describe('redaction patterns', () => {
  /** The reference: the patterns before they were anchored (they read a long run once per position). */
  const FORMER: [RegExp, string][] = [
    [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)[^\s@/?#]+@/gi, '$1[redacted]@'],
    [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
    [/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted]'],
    [/([?&](?:[a-z_]*token|code|password|secret|key)=)[^&\s#"']+/gi, '$1[redacted]'],
    [/\b([A-Za-z0-9_%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b/g, '$1***@$2'],
  ];
  const former = (text: string) => FORMER.reduce((out, [pattern, by]) => out.replace(pattern, by), text);

  it('redact exactly what the former patterns redacted', () => {
    const pieces = ['a', 'Z', '1', '.', '-', '_', '%', '+', '@', '.com', ':', '//', '/', '?', '#', '&', '='];
    pieces.push(' ', '*', 'eyJ', 'co', 'Bearer ', 'token=', 'https://', 'x:y@', 'a.b@c.de');
    let seed = 1; // a fixed sequence of 20,000 strings of up to 20 pieces
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * n);
    };
    const differing: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      let text = '';
      for (let n = 1 + next(20); n > 0; n--) text += pieces[next(pieces.length)];
      if (redactText(text) !== former(text)) differing.push(text);
    }
    expect(differing).toEqual([]);
  });

  it('redact a long run of pattern characters with what surrounds it', () => {
    // The inputs the former patterns read once per position.
    const run = (unit: string) => unit.repeat(Math.ceil(MAX_TEXT_LENGTH / 2 / unit.length));
    for (const unit of ['a-', 'a.', 'eyJ-', 'x@a-']) {
      const text = `${run(unit)} https://u:pw1@h ${run(unit)}.b.c eyJ${run(unit)}.p.s ${run(unit)}@example.com`;
      expect(redactText(text, Infinity)).toBe(former(text));
    }
  });
});

describe('errors', () => {
  it('keeps the cause chain with names, messages, stacks and own properties', () => {
    const { logger, lines } = capture();
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const middle = new TypeError('query failed', { cause: root });
    const top = new Error('settlement failed for dave@example.com', { cause: middle });
    logger.error('relay batch failed', { err: top });
    const err = lines[0]!.err as { stack: string };
    expect(err).toMatchObject({
      name: 'Error',
      message: 'settlement failed for d***@example.com',
      cause: {
        name: 'TypeError',
        message: 'query failed',
        cause: {
          name: 'Error',
          message: 'connect ECONNREFUSED 127.0.0.1:5432',
          code: 'ECONNREFUSED',
          stack: expect.stringContaining('at ') as string,
        },
      },
    });
    expect(err.stack).toContain('settlement failed for d***@example.com');
  });

  it('serializes non-Error causes, AggregateErrors and cycles without throwing', () => {
    const { logger, lines } = capture();
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b; // a cycle
    const self: Record<string, unknown> = { name: 'loop' };
    self.self = self;
    logger.error('many', {
      err: new AggregateError([new Error('one'), 'two'], 'both failed', {
        cause: { reason: 'quota', token: 't' },
      }),
      cyclic: b,
      self,
    });
    const line = lines[0]!;
    expect(line.err).toMatchObject({
      name: 'AggregateError',
      errors: [{ message: 'one' }, 'two'],
      cause: { reason: 'quota', token: '[redacted]' },
    });
    expect(line.cyclic).toMatchObject({ message: 'b', cause: { message: 'a', cause: '[circular]' } });
    expect(line.self).toEqual({ name: 'loop', self: '[circular]' });
  });
});

describe('sdkLogger', () => {
  it('writes the Temporal SDK lines at or above its level with their metadata', () => {
    const { logger, lines } = capture('debug');
    const sdk = sdkLogger(logger, 'warn');
    sdk.info('Worker state changed', { sdkComponent: 'worker', state: 'RUNNING' });
    sdk.trace('poll');
    sdk.warn('Activity failed', {
      sdkComponent: 'activity',
      error: new Error('boom', { cause: new Error('root') }),
    });
    sdk.log('ERROR', 'core: connection lost', { sdkComponent: 'core', [Symbol('ts')]: 1n });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'Activity failed'],
      ['error', 'core: connection lost'],
    ]);
    expect(lines[0]).toMatchObject({
      sdkComponent: 'activity',
      error: { message: 'boom', cause: { message: 'root' } },
    });
  });
});
