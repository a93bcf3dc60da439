import { createRemoteJWKSet } from 'jose';
import { z } from 'zod';
import { createLogger, lifecycleLogger, stopOnSignals } from '../../src/common/index.js';
import type { Subgraph } from './subgraphServer.js';

const environmentSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  GATEWAY_JWKS_URL: z.url({ protocol: /^https?$/, error: 'must be the gateway\'s JWKS URL, e.g. http://gateway:4000/.well-known/jwks.json' }),
  GATEWAY_TOKEN_ISSUER: z.string().min(1).default('graphql-gateway'),
});

/**
 * Runs a subgraph as a process: reads HOST and PORT, serves, logs `listening` with its URL (the launcher reads that
 * line to learn an ephemeral port), and stops cleanly on SIGTERM or SIGINT.
 */
export async function runSubgraph(subgraph: Subgraph, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join('.')} ${issue.message}`).join('\n');
    process.stderr.write(`Invalid configuration for subgraph ${subgraph.name}:\n${problems}\n`);
    process.exit(2);
  }
  const logger = lifecycleLogger(createLogger({ level: parsed.data.LOG_LEVEL, base: { service: subgraph.name } }));
  const trust = {
    // A gateway that restarts with a new key is recognised within a second: it is the only caller, and a trusted one.
    keys: createRemoteJWKSet(new URL(parsed.data.GATEWAY_JWKS_URL), { cooldownDuration: 1_000 }),
    issuer: parsed.data.GATEWAY_TOKEN_ISSUER,
  };
  const running = await subgraph.listen({ host: parsed.data.HOST, port: parsed.data.PORT, trust });
  logger.info({ url: running.url }, 'listening');

  stopOnSignals(() => running.close(), logger);
}
