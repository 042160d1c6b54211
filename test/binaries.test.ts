import { describe, expect, it, vi } from 'vitest';
import { debianBins } from '../devstack/cluster.js';
import type { ensureDebianTool } from '../devstack/debian-tools.js';
import { clusterBinaries, testBinary } from './binaries.js';

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

describe('clusterBinaries (the cluster suites)', () => {
  const ensure = () => vi.fn<typeof ensureDebianTool>(() => ({ ok: false, reason: 'no apt-get here' }));

  it('skips the suites without nginx, Prometheus or Alertmanager, with the reason, outside CI', () => {
    const gate = clusterBinaries({}, missing);
    expect(gate.skip).toBe(true);
    expect(gate.note).toMatch(/skipped: nginx is not installed \(Debian package nginx;/);
    expect(gate.note).toMatch(/skipped: prometheus is not installed \(Debian package prometheus;/);
    expect(gate.note).toMatch(/skipped: prometheus-alertmanager is not installed/);
    const some = clusterBinaries({}, (name) => (name === 'nginx' ? found(name) : undefined));
    expect(some.skip).toBe(true);
    expect(some.note).not.toMatch(/nginx/);
  });

  it('runs them under CI=true, which then fail with the reason', () => {
    const gate = clusterBinaries({ CI: 'true' }, missing);
    expect(gate.skip).toBe(false);
    expect(() => gate.bins()).toThrow(/nginx is not installed.*CI=true/);
  });

  it('gives startCluster the binaries it found, so it installs nothing', () => {
    const gate = clusterBinaries({}, found);
    expect(gate.skip).toBe(false);
    const install = ensure();
    expect(debianBins(gate.bins(), () => undefined, install)).toEqual({
      nginx: '/usr/bin/nginx',
      prometheus: '/usr/bin/prometheus',
      alertmanager: '/usr/bin/prometheus-alertmanager',
    });
    expect(install).not.toHaveBeenCalled();
  });

  it('leaves npm run start:cluster (no binaries given) to find or install them', () => {
    const install = ensure();
    expect(() => debianBins(undefined, () => undefined, install)).toThrow('no apt-get here');
    expect(install).toHaveBeenCalledWith('nginx', 'nginx', expect.any(Function));
  });
});
