import { defineConfig } from 'vitest/config';

const timingSensitive = ['test/e2e/scaledOutWorkers.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file starts its own Azurite; two at a time suits a 2-core machine.
    maxWorkers: 2,
    pool: 'forks',
    globalSetup: ['test/support/globalSetup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'app', include: ['test/**/*.test.ts'], exclude: timingSensitive, sequence: { groupOrder: 0 } },
      },
      // The shared-budget test measures request timing across four processes: it runs alone,
      // after the others, so that another file's load cannot skew its clock.
      { extends: true, test: { name: 'budget', include: timingSensitive, sequence: { groupOrder: 1 } } },
    ],
  },
});
