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
    // Each worker keeps its modules from one test file to the next: loading @apollo/* and graphql-js again for every
    // file was half of the suite's time (114 s of imports in 225 s; 80 s in all without). Every file starts and stops
    // its own servers, and nothing of the gateway is a module-level singleton (@apollo/gateway reads its telemetry
    // switch per instance, which test/noPhoneHome.test.ts relies on).
    isolate: false,
  },
});
