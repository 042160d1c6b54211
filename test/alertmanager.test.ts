/**
 * Alerts reach someone: every Prometheus rule names a runbook that exists, and the Alertmanager configs
 * (compose and local) are valid and route critical alerts to on-call and the rest to the team, checked
 * with the real `amtool` (Debian package prometheus-alertmanager).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { testBinary } from './binaries.js';

const root = join(import.meta.dirname, '..');
const CONFIGS = ['ops/alertmanager/alertmanager.yml', 'ops/alertmanager/alertmanager.local.yml'];
const amtool = testBinary('amtool');

interface Rule {
  alert?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (
  parse(readFileSync(join(root, 'ops/prometheus/alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }
).groups
  .flatMap((g) => g.rules)
  .filter((r) => r.alert);

function run(args: string[]) {
  const r = spawnSync(amtool.path(), args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('alert rules', () => {
  it('has rules to check', () => expect(rules.length).toBeGreaterThan(10));

  it.each(rules.map((r) => [r.alert!, r] as const))(
    '%s has a runbook_url to a runbook in docs/runbooks/',
    (_, rule) => {
      const url = rule.annotations?.runbook_url ?? '';
      expect(url).toMatch(/^docs\/runbooks\/[a-z0-9-]+\.md$/);
      expect(existsSync(join(root, url))).toBe(true);
      expect(rule.annotations).not.toHaveProperty('runbook');
      expect(['critical', 'warning']).toContain(rule.labels?.severity);
    },
  );
});

describe.each(CONFIGS)('Alertmanager %s', (config) => {
  it.skipIf(amtool.skip)(`passes amtool check-config${amtool.note}`, () => {
    const r = run(['check-config', config]);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it.skipIf(amtool.skip)(`routes critical alerts to on-call and the others to the team${amtool.note}`, () => {
    for (const [severity, receiver] of [
      ['critical', 'oncall-mail'],
      ['warning', 'team-mail'],
    ] as const) {
      const r = run([
        'config',
        'routes',
        'test',
        `--config.file=${config}`,
        `--verify.receivers=${receiver}`,
        `severity=${severity}`,
        'alertname=Any',
      ]);
      expect(r.out, `severity=${severity}`).toContain(receiver);
      expect(r.status, r.out).toBe(0);
    }
    // The check can fail: a wrong expectation is refused.
    expect(
      run([
        'config',
        'routes',
        'test',
        `--config.file=${config}`,
        '--verify.receivers=team-mail',
        'severity=critical',
      ]).status,
    ).not.toBe(0);
  });
});
