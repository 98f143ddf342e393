import { defineConfig } from 'vitest/config';

// Two projects: pure unit tests (parallel) and kernel tests (root, real BPF, one file at a time).
// Kernel test files are named *.kernel.test.ts, wherever they live.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'tools/**/*.test.ts'],
          exclude: ['**/*.kernel.test.ts', '**/node_modules/**', '**/dist/**'],
        },
      },
      {
        test: {
          name: 'kernel',
          include: ['packages/*/test/**/*.kernel.test.ts', 'integration/**/*.kernel.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          globalSetup: ['tools/test/kernel-global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
