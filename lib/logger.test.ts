import { describe, expect, it } from 'vitest';
import { createLogger, withLogContext, type LogLevel } from './logger.js';
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
