import { defineConfig } from 'vitest/config';

// Unit tests only when run from this package (`npx vitest run`); the kernel tests run from the
// repository root: `npx vitest run --project kernel packages/kmesh-controller/test/daemon.kernel.test.ts`.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/**/*.kernel.test.ts', '**/node_modules/**', '**/dist/**'],
  },
});
