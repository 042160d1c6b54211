import { describe, expect, it } from 'vitest';
import { forwardedAddress, normalizeAddress } from './client-address.js';

describe('client address', () => {
  it('normalises IPv4, IPv4-mapped IPv6 and groups IPv6 by /64', () => {
    expect(normalizeAddress('203.0.113.5')).toBe('203.0.113.5');
    expect(normalizeAddress('::ffff:203.0.113.5')).toBe('203.0.113.5');
    expect(normalizeAddress('2001:db8:1:2:3:4:5:6')).toBe('2001:0db8:0001:0002::/64');
    expect(normalizeAddress('2001:db8:1:2::9')).toBe('2001:0db8:0001:0002::/64');
    expect(normalizeAddress('[2001:db8::1]')).toBe('2001:0db8:0000:0000::/64');
    expect(normalizeAddress('fe80::1%eth0')).toBe('fe80:0000:0000:0000::/64');
    expect(normalizeAddress('::1')).toBe('0000:0000:0000:0000::/64');
    expect(normalizeAddress('not-an-ip')).toBeUndefined();
    expect(normalizeAddress('999.1.1.1')).toBeUndefined();
  });

  it('trusts only the entries appended by trusted proxies', () => {
    expect(forwardedAddress('198.51.100.1, 203.0.113.7', 0)).toBeUndefined();
    expect(forwardedAddress('198.51.100.1, 203.0.113.7', 1)).toBe('203.0.113.7');
    expect(forwardedAddress('198.51.100.1, 203.0.113.7, 10.0.0.2', 2)).toBe('203.0.113.7');
    expect(forwardedAddress('203.0.113.7', 2)).toBeUndefined();
    expect(forwardedAddress('evil', 1)).toBeUndefined();
    expect(forwardedAddress(undefined, 1)).toBeUndefined();
  });
});
