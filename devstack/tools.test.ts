import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mailpitUiMarker, needsBuild, TOOLS } from './tools.js';

const dirs: string[] = [];
const toolsDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'brokerx-tools-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('needsBuild', () => {
  it('builds a missing tool', () => {
    const dir = toolsDir();
    expect(needsBuild('temporal', dir)).toBe(true);
    expect(needsBuild('mailpit', dir)).toBe(true);
  });

  it('keeps an existing Temporal CLI', () => {
    const dir = toolsDir();
    writeFileSync(join(dir, 'temporal'), '');
    expect(needsBuild('temporal', dir)).toBe(false);
  });

  it('rebuilds a Mailpit without the UI marker, or with the marker of another version', () => {
    const dir = toolsDir();
    writeFileSync(join(dir, 'mailpit'), '');
    expect(needsBuild('mailpit', dir)).toBe(true);
    writeFileSync(mailpitUiMarker(dir), 'v1.0.0\n');
    expect(needsBuild('mailpit', dir)).toBe(true);
    writeFileSync(mailpitUiMarker(dir), `${TOOLS.mailpit.module.split('@')[1]}\n`);
    expect(needsBuild('mailpit', dir)).toBe(false);
  });
});
