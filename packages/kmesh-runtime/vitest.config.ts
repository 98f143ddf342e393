import { defineConfig } from 'vitest/config';

// Lets `npx nx run @kmesh/runtime:test` work from this folder. Every test here needs root and the real
// kernel (they skip themselves otherwise; the repo's `npm test` refuses such skips when run as root).
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], exclude: ['**/node_modules/**', '**/dist/**', '**/build/**'], fileParallelism: false },
});
