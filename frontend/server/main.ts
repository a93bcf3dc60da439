// The storefront server's process: the one place that reads its environment. Serves the built page
// (`npm run build`) and, outside production, the development sign-in; stops cleanly on SIGTERM or SIGINT.
import { z } from 'zod';
import { createLogger, lifecycleLogger, stopOnSignals } from '../../src/common/index.js';
import { USERS } from '../../subgraphs/accounts/data.js';
import { createStorefrontServer, type StorefrontSignIn } from './storefrontServer.js';

/** How long a development sign-in lasts: long enough for a demo, short enough that a leaked token soon is useless. */
const DEV_TOKEN_TTL_SEC = 900;

const environmentSchema = z.object({
  NODE_ENV: z.string().default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4100),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  GATEWAY_GRAPHQL_URL: z
    .url({ protocol: /^https?$/, error: "must be the gateway's GraphQL endpoint as browsers reach it, e.g. http://localhost:4000/graphql" })
    .default('http://localhost:4000/graphql'),
  STOREFRONT_STATIC_DIR: z.string().min(1).default('dist/frontend/public'),
  DEV_KEY_FILE: z.string().min(1).default('.dev/dev-issuer-key.json'),
  DEV_ALLOW_NETWORK: z.enum(['true', 'false']).default('false'),
});

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

const parsed = environmentSchema.safeParse(process.env);
const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
if (parsed.success) {
  const { NODE_ENV, HOST, GATEWAY_GRAPHQL_URL, DEV_ALLOW_NETWORK } = parsed.data;
  const gateway = new URL(GATEWAY_GRAPHQL_URL);
  // Browsers treat http://localhost as secure; anywhere else tokens would travel in the clear.
  if (NODE_ENV === 'production' && gateway.protocol !== 'https:' && !LOOPBACK.has(gateway.hostname)) {
    problems.push('GATEWAY_GRAPHQL_URL must be https in production unless it is on localhost (e.g. https://api.example.com/graphql)');
  }
  // The development sign-in hands a token for any demo user to whoever reaches it, as the gateway's development
  // mode refuses a non-loopback HOST without DEV_ALLOW_NETWORK.
  if (NODE_ENV !== 'production' && !LOOPBACK.has(HOST) && DEV_ALLOW_NETWORK !== 'true') {
    problems.push(`HOST=${HOST} would offer the development sign-in to the network: bind 127.0.0.1, set NODE_ENV=production, or DEV_ALLOW_NETWORK=true`);
  }
}
if (!parsed.success || problems.length > 0) {
  process.stderr.write(`Invalid configuration for the storefront:\n${problems.map((problem) => `  - ${problem}`).join('\n')}\n`);
  process.exit(2);
}
const env = parsed.data;
const production = env.NODE_ENV === 'production';
const signIn: StorefrontSignIn = production
  ? { mode: 'identity-provider' }
  : { mode: 'development', keyFile: env.DEV_KEY_FILE, users: USERS.map(({ id, name }) => ({ id, name })), ttlSec: DEV_TOKEN_TTL_SEC };

const logger = lifecycleLogger(createLogger({ level: env.LOG_LEVEL, base: { service: 'storefront' } }));
const server = createStorefrontServer({
  host: env.HOST,
  port: env.PORT,
  staticDir: env.STOREFRONT_STATIC_DIR,
  graphqlUrl: new URL(env.GATEWAY_GRAPHQL_URL),
  signIn,
  logger,
});
await server.start();
stopOnSignals(() => server.stop(), logger);
