import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 is CommonJS and ESM at once; without this, vitest can load both copies and graphql-js refuses
    // "a GraphQLObjectType from another module or realm".
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    env: { APOLLO_TELEMETRY_DISABLED: 'true' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file starts its own servers on port 0; two cores run two files at a time without starving them.
    pool: 'forks',
    maxWorkers: 2,
  },
});
