/**
 * Redocly's linter over the document (redocly.yaml: the recommended rules, warnings as errors, media-type
 * examples checked against their schemas): zero problems.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from './document.js';

const run = promisify(execFile);

describe('OpenAPI lint', () => {
  it('redocly lint finds no error and no warning in /openapi.json', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openapi-lint-'));
    try {
      const file = join(dir, 'openapi.json');
      await writeFile(file, JSON.stringify(openApiDocument()));
      const result = await run(
        'node_modules/.bin/redocly',
        ['lint', '--config', 'redocly.yaml', '--format', 'json', file],
        { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
      ).catch((err: { stdout: string; stderr: string }) => ({
        stdout: err.stdout,
        stderr: err.stderr,
        failed: true,
      }));
      const report = JSON.parse(result.stdout) as {
        totals: { errors: number; warnings: number };
        problems: { ruleId: string; message: string; location: { pointer: string }[] }[];
      };
      const problems = report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
      expect(problems).toEqual([]);
      expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
      expect('failed' in result, result.stderr).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
