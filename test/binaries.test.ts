import { describe, expect, it } from 'vitest';
import { testBinary } from './binaries.js';

const missing = () => undefined;
const found = (name: string) => `/usr/bin/${name}`;

describe('testBinary', () => {
  it('skips a test whose binary is missing, with the reason, outside CI', () => {
    const b = testBinary('nginx', {}, missing);
    expect(b.skip).toBe(true);
    expect(b.note).toMatch(/skipped: nginx is not installed \(Debian package nginx/);
  });

  it('runs the test under CI=true, which then fails with the reason', () => {
    const b = testBinary('promtool', { CI: 'true' }, missing);
    expect(b.skip).toBe(false);
    expect(b.note).toBe('');
    expect(() => b.path()).toThrow(/promtool is not installed \(Debian package prometheus.*CI=true/);
  });

  it('runs the test with the binary found, in CI or not', () => {
    for (const env of [{}, { CI: 'true' }]) {
      const b = testBinary('nginx', env, found);
      expect(b.skip).toBe(false);
      expect(b.path()).toBe('/usr/bin/nginx');
    }
  });
});
