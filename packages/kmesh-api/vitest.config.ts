import { defineConfig } from 'vitest/config';

// Lets `npx vitest run` work from this folder (the root config's globs are relative to the repo root).
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], exclude: ['**/*.kernel.test.ts', '**/node_modules/**', '**/dist/**'] },
});
