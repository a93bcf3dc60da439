import { z } from 'zod';

/**
 * The gateway's configuration, parsed once at start from the environment (see `loadConfig`).
 * Everything else receives this object; nothing below `main.ts` reads `process.env`.
 */
export interface GatewayConfig {
  mode: 'development' | 'production';
  host: string;
  port: number;
  /** The composed supergraph SDL; watched for changes. */
  supergraphPath: string;
  /** Per-subgraph URL overrides (subgraph name as in the supergraph, lower case), from `SUBGRAPH_<NAME>_URL`. */
  subgraphUrls: Readonly<Record<string, string>>;
  /** How long one subgraph request may take before the gateway gives up on it. */
  subgraphTimeoutMs: number;
  introspection: boolean;
  /** Apollo Sandbox at `/` (redirecting to `/graphql`). */
  sandbox: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Largest request body accepted; larger ones get 413. */
  bodyLimitBytes: number;
  /** On SIGTERM, how long in-flight requests may take to finish before their connections are closed. */
  shutdownTimeoutMs: number;
}

const booleanFlag = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .transform((value) => value === 'true' || value === '1');

const integer = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL, e.g. http://accounts:4001/graphql' });

const environmentSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], { error: 'must be development, production or test' }).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: integer(0, 65535).default(4000),
  SUPERGRAPH_PATH: z.string().min(1).default('schema/supergraph.graphql'),
  SUBGRAPH_TIMEOUT_MS: integer(1, 300_000).default(5_000),
  INTROSPECTION: booleanFlag.optional(),
  SANDBOX: booleanFlag.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    error: 'must be one of fatal, error, warn, info, debug, trace, silent',
  }).default('info'),
  BODY_LIMIT_BYTES: integer(1_024, 100 * 1024 * 1024).default(1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: integer(0, 600_000).default(10_000),
});

const SUBGRAPH_URL_VARIABLE = /^SUBGRAPH_([A-Z0-9_]+)_URL$/;

/** A configuration that cannot be used, with one line per problem, each saying how to fix it. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses and validates the environment into a `GatewayConfig`; throws a `ConfigError` that lists every problem.
 * `NODE_ENV=test` behaves as development.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): GatewayConfig {
  const problems: string[] = [];
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const variable = issue.path.join('.');
      problems.push(`${variable} ${issue.message} (got ${JSON.stringify(env[variable])})`);
    }
  }

  const subgraphUrls: Record<string, string> = {};
  for (const [variable, value] of Object.entries(env)) {
    const match = SUBGRAPH_URL_VARIABLE.exec(variable);
    if (!match?.[1] || value === undefined) continue;
    const result = httpUrl.safeParse(value);
    if (result.success) subgraphUrls[match[1].toLowerCase()] = result.data;
    else problems.push(`${variable} ${result.error.issues[0]?.message ?? 'is not a URL'} (got ${JSON.stringify(value)})`);
  }

  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const values = parsed.data;
  const mode = values.NODE_ENV === 'production' ? 'production' : 'development';
  return {
    mode,
    host: values.HOST,
    port: values.PORT,
    supergraphPath: values.SUPERGRAPH_PATH,
    subgraphUrls,
    subgraphTimeoutMs: values.SUBGRAPH_TIMEOUT_MS,
    introspection: values.INTROSPECTION ?? mode === 'development',
    sandbox: values.SANDBOX ?? mode === 'development',
    logLevel: values.LOG_LEVEL,
    bodyLimitBytes: values.BODY_LIMIT_BYTES,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS,
  };
}

/** The name of the variable that overrides a subgraph's URL: `SUBGRAPH_<NAME>_URL`. */
export function subgraphUrlVariable(subgraphName: string): string {
  return `SUBGRAPH_${subgraphName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`;
}
