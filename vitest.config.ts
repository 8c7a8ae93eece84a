import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Integration tests start real trackers on loopback; keep the two cores for them.
    pool: 'forks',
    maxWorkers: 2,
  },
});
