import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      {
        test: {
          name: 'unit',
          // Unit tests first (fast feedback), then the saga tier, then the integration project with its own worker limit.
          sequence: { groupOrder: 0 },
          include: ['**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.workflow.test.ts', 'node_modules/**', '.data/**'],
        },
      },
      {
        test: {
          // The fast saga tier: real workflow code, fake activities, a local Temporal dev server per file.
          name: 'workflow',
          sequence: { groupOrder: 1 },
          include: ['**/*.workflow.test.ts'],
          exclude: ['node_modules/**', '.data/**'],
          testTimeout: 20_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 2 },
          include: ['**/*.int.test.ts'],
          exclude: ['node_modules/**', '.data/**', 'test/cluster*.int.test.ts'],
          globalSetup: ['./test/global-setup.ts'],
          setupFiles: ['./test/runtime-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Two cores: a couple of files at once keeps the Temporal server and Postgres busy without thrashing.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'cluster',
          // The production topology (about twenty processes of its own): last, alone, one file at a time,
          // so it never competes with the integration files for the two cores.
          sequence: { groupOrder: 3 },
          // The cluster's end-to-end test, then the fault suite (test/cluster-faults.int.test.ts).
          include: ['test/cluster.int.test.ts', 'test/cluster-faults.int.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 900_000,
          maxWorkers: 1,
        },
      },
    ],
  },
});
