import { describe, expect, it } from 'vitest';
import { deadProcesses, startNode } from './stack.js';

const FIXTURE = 'test/fixtures/processes/exits-after-lines.ts';

describe('deadProcesses', () => {
  it('names a stack process that exited, with its exit code and its last 20 lines', async () => {
    const p = startNode('dying', FIXTURE, { ...process.env, EXIT_AFTER_MS: '0' });
    expect(await p.exited).toBe(3);
    // Its pipes may still hold its last lines when it has exited.
    await expect.poll(() => deadProcesses([p])[0]).toContain('the reason it died');
    const [dead, ...others] = deadProcesses([p]);
    expect(others).toEqual([]);
    const lines = dead!.split('\n');
    expect(lines[0]).toBe('dying exited (code 3)');
    expect(lines).toContain('  the reason it died');
    expect(lines).toContain('  line 25');
    expect(lines).not.toContain('  line 5'); // only the last 20 lines are kept
    expect(lines).toHaveLength(21);
  });

  it('does not list a process that still runs', async () => {
    const p = startNode('alive', FIXTURE, { ...process.env, EXIT_AFTER_MS: '60000' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(deadProcesses([p])).toEqual([]);
    } finally {
      await p.stop('SIGKILL');
    }
    expect(deadProcesses([p])).toEqual([expect.stringMatching(/^alive exited \(SIGKILL\)/)]);
  });
});
