import { defineConfig } from 'vitest/config';

// Lets `npx vitest run` work from this package: unit tests only. The root
// config runs the same files in its 'unit' project.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/*.kernel.test.ts', '**/node_modules/**', '**/dist/**'],
  },
});
