import { z } from 'zod';
import { createLogger, lifecycleLogger } from '../../src/logger.js';
import { stopOnSignals } from '../../src/stopOnSignals.js';
import type { Subgraph } from './subgraphServer.js';

const environmentSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/**
 * Runs a subgraph as a process: reads HOST and PORT, serves, logs `listening` with its URL (the launcher reads that
 * line to learn an ephemeral port), and stops cleanly on SIGTERM or SIGINT.
 */
export async function runSubgraph(subgraph: Subgraph, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join('.')}: ${issue.message}`).join('\n');
    process.stderr.write(`Invalid configuration for subgraph ${subgraph.name}:\n${problems}\n`);
    process.exit(2);
  }
  const logger = lifecycleLogger(createLogger({ level: parsed.data.LOG_LEVEL, base: { service: subgraph.name } }));
  const running = await subgraph.listen({ host: parsed.data.HOST, port: parsed.data.PORT });
  logger.info({ url: running.url }, 'listening');

  stopOnSignals(() => running.close(), logger);
}
