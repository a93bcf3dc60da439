import { z } from 'zod';

/** Asymmetric JWS algorithms a client token may use. HMAC and `none` are never accepted (see `AuthConfig`). */
export const CLIENT_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type ClientTokenAlgorithm = (typeof CLIENT_TOKEN_ALGORITHMS)[number];

/** Where the public keys that verify client tokens come from. */
export type KeySource =
  /** An identity provider's JWKS: cached, refreshed in the background, refetched (with a cooldown) on an unknown `kid`. */
  | { kind: 'jwks'; url: string; cooldownMs: number; refreshMs: number; timeoutMs: number }
  /** Public keys in a file: PEM (one or more keys or certificates), a JWK, or a JWK set. */
  | { kind: 'file'; path: string }
  /** Development only, when no key source is set: a local key pair in `path`, created on first use; `npm run token` signs with it. */
  | { kind: 'dev'; path: string };

export interface AuthConfig {
  keySource: KeySource;
  issuer: string;
  /** Accepted audiences; a token must name at least one. */
  audience: readonly string[];
  /**
   * Accepted algorithms. Only asymmetric ones exist here: with public keys configured, accepting HS256 would let
   * anyone who knows the public key sign tokens with it as the HMAC secret.
   */
  algorithms: readonly ClientTokenAlgorithm[];
  clockToleranceSec: number;
  /** Reject anonymous callers with 401 instead of letting later rules decide what they may see. */
  required: boolean;
  /** Dot path of the roles claim, e.g. `roles` or `realm_access.roles`. */
  rolesClaim: string;
  /** Dot paths tried in order for scopes (space-separated string or array), e.g. `scope`, `scp`. */
  scopesClaims: readonly string[];
  /** Verified tokens kept until they expire, at most this many; 0 turns the cache off. */
  tokenCacheSize: number;
  /**
   * The longest lifetime (`exp` minus `iat`, or minus now without `iat`) a token may have. A token valid for a
   * century would otherwise be accepted, and cached, for as long as it claims.
   */
  maxLifetimeSec: number;
}

/** The tokens the gateway mints for each subgraph request, in place of the client's. */
export interface SubgraphTokenConfig {
  /** A private key (PEM PKCS#8 or JWK) shared by every replica; absent: a key generated at start, for one replica. */
  signingKeyFile: string | undefined;
  issuer: string;
  ttlSec: number;
}

/** Limits on what one request may ask; 0 turns a limit off (refused in production). */
export interface LimitsConfig {
  maxDepth: number;
  maxAliases: number;
  maxRootFields: number;
  maxDirectives: number;
  /** Parser tokens per document: the parser gives up past this. */
  maxTokens: number;
  /**
   * Characters of one document. Tokens do not count whitespace, comments or the length of a string literal, and a
   * cached document keeps its whole source alive: a 900 KB comment behind a 20-token query would otherwise be kept.
   */
  maxQueryLength: number;
  /**
   * Selections (fields, inline fragments, spreads) an operation would have with every fragment spread expanded,
   * counted without expanding (Apollo Server's `maxRecursiveSelections`). Decided before any other limit looks at
   * the document, so that no walk of it can blow up: `{ ...F20 }` where each `Fi` spreads `F(i-1)` twice is 2^20.
   */
  maxExpandedSelections: number;
  /** Errors in one answer, at most; validation stops after this many. */
  maxErrors: number;
  /** The largest estimated cost (see src/limits/estimateCost.ts) an operation may have. */
  maxCost: number;
  /** Elements assumed in a list whose size nothing gives. */
  defaultListSize: number;
  /** The most times a field may be selected in one operation, aliases included, by `Type.field`. */
  fieldCaps: Readonly<Record<string, number>>;
}

/** A budget of cost points per caller and window. */
export interface RateLimitConfig {
  /** 0 turns rate limiting off (refused in production). */
  points: number;
  windowSec: number;
  /** Shares the budget between replicas; in-memory per process when absent. */
  redisUrl: string | undefined;
  /** Charged on top of the cost when the gateway had to plan the operation (its plan was not cached). */
  planMissPoints: number;
}

/** Bounds on connections, so that a client cannot hold the gateway's sockets. */
export interface ConnectionsConfig {
  /** The whole request, headers and body, must arrive within this (then 408 and the connection is closed). */
  requestTimeoutMs: number;
  /** The request headers must arrive within this. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections one client address may hold at once (not counted for TRUSTED_PROXIES); 0: no cap. */
  maxPerClient: number;
}

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
  /** Per-subgraph URL overrides from `SUBGRAPH_<NAME>_URL`, by `subgraphUrlKey(name)`. */
  subgraphUrls: Readonly<Record<string, string>>;
  /** How long one subgraph request may take before the gateway gives up on it. */
  subgraphTimeoutMs: number;
  /** Client request headers passed on to subgraphs (lower case); `x-request-id` always is. */
  forwardHeaders: readonly string[];
  auth: AuthConfig;
  subgraphTokens: SubgraphTokenConfig;
  /** What happens to a query field the caller may not read: `remove` it (partial result) or `reject` the operation. */
  deniedQueryFields: 'remove' | 'reject';
  limits: LimitsConfig;
  rateLimit: RateLimitConfig;
  connections: ConnectionsConfig;
  /** Approximate memory for cached query plans (the gateway plans each new document once, then reuses it). */
  planCacheMiB: number;
  /**
   * Apollo's automatic persisted queries: a client may register any document under its hash and later send only the
   * hash. Off by default: registration is open to anyone and saves only bandwidth.
   */
  automaticPersistedQueries: boolean;
  /** Proxies whose X-Forwarded-For is believed (addresses or CIDR ranges); the client's address is the peer's otherwise. */
  trustedProxies: readonly string[];
  /** Origins a browser may call from (exact, e.g. https://app.example.com); none: same-origin only. */
  corsOrigins: readonly string[];
  corsCredentials: boolean;
  csrfPrevention: boolean;
  /** Error codes a subgraph may send that reach the client with their message. */
  publicErrorCodes: readonly string[];
  /** Per-subgraph deadlines from `SUBGRAPH_<NAME>_TIMEOUT_MS`, by `subgraphUrlKey(name)`. */
  subgraphTimeouts: Readonly<Record<string, number>>;
  /** Share identical subgraph queries in flight at the same moment, per caller identity. */
  deduplicateSubgraphRequests: boolean;
  /** `keepalive`: node-fetch over keep-alive agents. `apollo-default`: RemoteGraphQLDataSource's own fetcher, kept only to measure the difference. */
  subgraphFetcher: 'keepalive' | 'apollo-default';
  /**
   * Where Prometheus metrics are served: `main` (GET /metrics beside /graphql, development only, since metrics name
   * operations and subgraphs), a separate port, or nowhere.
   */
  metrics: { kind: 'main' } | { kind: 'port'; host: string; port: number } | { kind: 'off' };
  /** Gateway processes sharing the port (node:cluster); 1: this process serves. */
  workers: number;
  /** OpenTelemetry traces over OTLP/HTTP, only when an endpoint is configured. */
  tracing: { endpoint: string; serviceName: string } | undefined;
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

// Digits only: Number() alone would take " " as 0 and "0x10" as 16.
const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { error: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` }));

const list = z.string().transform((value) => value.split(/[\s,]+/).filter((entry) => entry !== ''));
const nonEmptyList = list.refine((entries) => entries.length > 0, { error: 'must list at least one value' });

/** Headers that frame or route the gateway's own request to a subgraph, or carry credentials: never forwarded. */
const UNFORWARDABLE_HEADERS = new Set([
  'authorization', 'cookie', 'proxy-authorization', 'host', 'content-length', 'content-type', 'transfer-encoding',
  'connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'expect', 'x-request-id',
]);

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL, e.g. http://accounts:4001/graphql' });

const environmentSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], { error: 'must be development, production or test' }).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: integer(0, 65535).default(4000),
  SUPERGRAPH_PATH: z.string().min(1).default('schema/supergraph.graphql'),
  SUBGRAPH_TIMEOUT_MS: integer(1, 300_000).default(5_000),
  FORWARD_HEADERS: list.default([]),
  JWT_JWKS_URL: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of a JWKS, e.g. https://auth.example.com/.well-known/jwks.json' }).optional(),
  JWT_PUBLIC_KEYS: z.string().min(1).optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: list.optional(),
  JWT_ALGORITHMS: nonEmptyList.default(['RS256', 'ES256']),
  JWT_CLOCK_TOLERANCE_SEC: integer(0, 300).default(5),
  JWT_ROLES_CLAIM: z.string().min(1).default('roles'),
  JWT_SCOPES_CLAIMS: nonEmptyList.default(['scope', 'scp']),
  // At least a second: with no cooldown, every token with a made-up kid would make the gateway fetch the JWKS.
  JWT_JWKS_COOLDOWN_MS: integer(1_000, 3_600_000).default(30_000),
  JWT_JWKS_REFRESH_MS: integer(1_000, 86_400_000).default(600_000),
  JWT_JWKS_TIMEOUT_MS: integer(100, 60_000).default(5_000),
  JWT_TOKEN_CACHE_SIZE: integer(0, 1_000_000).default(10_000),
  JWT_MAX_LIFETIME_SEC: integer(60, 31_536_000).default(86_400),
  AUTH_REQUIRED: booleanFlag.default(false),
  DEV_KEY_FILE: z.string().min(1).default('.dev/dev-issuer-key.json'),
  DEV_ALLOW_NETWORK: booleanFlag.default(false),
  GATEWAY_SIGNING_KEY_FILE: z.string().min(1).optional(),
  GATEWAY_TOKEN_ISSUER: z.string().min(1).default('graphql-gateway'),
  GATEWAY_TOKEN_TTL_SEC: integer(2, 300).default(10),
  AUTHZ_DENIED_QUERY_FIELDS: z.enum(['remove', 'reject'], { error: 'must be remove (partial result) or reject (refuse the operation)' }).default('remove'),
  MAX_DEPTH: integer(0, 1_000).default(10),
  MAX_ALIASES: integer(0, 10_000).default(15),
  MAX_ROOT_FIELDS: integer(0, 10_000).default(10),
  MAX_DIRECTIVES: integer(0, 10_000).default(20),
  MAX_TOKENS: integer(0, 1_000_000).default(2_000),
  MAX_QUERY_LENGTH: integer(0, 100 * 1024 * 1024).default(32_768),
  MAX_EXPANDED_SELECTIONS: integer(0, 10_000_000).default(2_000),
  MAX_ERRORS: integer(1, 1_000).default(10),
  MAX_COST: integer(0, 100_000_000).default(10_000),
  DEFAULT_LIST_SIZE: integer(1, 100_000).default(10),
  FIELD_CAPS: list.default(['Mutation.createReview=1']),
  RATE_LIMIT_POINTS: integer(0, 1_000_000_000).default(100_000),
  RATE_LIMIT_WINDOW_SEC: integer(1, 86_400).default(60),
  PLAN_MISS_POINTS: integer(0, 1_000_000_000).default(1_000),
  PLAN_CACHE_MIB: integer(1, 16_384).default(30),
  AUTOMATIC_PERSISTED_QUERIES: booleanFlag.default(false),
  REQUEST_TIMEOUT_MS: integer(1_000, 600_000).default(30_000),
  HEADERS_TIMEOUT_MS: integer(1_000, 600_000).default(10_000),
  KEEP_ALIVE_TIMEOUT_MS: integer(1_000, 600_000).default(72_000),
  MAX_CONNECTIONS_PER_CLIENT: integer(0, 1_000_000).default(64),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379' }).optional(),
  TRUSTED_PROXIES: list.default([]),
  CORS_ORIGINS: list.default([]),
  CORS_CREDENTIALS: booleanFlag.default(false),
  CSRF_PREVENTION: booleanFlag.default(true),
  DEDUPLICATE_SUBGRAPH_REQUESTS: booleanFlag.default(true),
  SUBGRAPH_FETCHER: z.enum(['keepalive', 'apollo-default'], { error: 'must be keepalive or apollo-default' }).default('keepalive'),
  METRICS_PORT: integer(0, 65535).optional(),
  GATEWAY_WORKERS: integer(1, 64).default(1),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be the http(s) base URL of an OTLP/HTTP collector, e.g. http://otel-collector:4318' }).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('graphql-gateway'),
  METRICS_HOST: z.string().min(1).optional(),
  PUBLIC_ERROR_CODES: list.default(['BAD_USER_INPUT', 'NOT_FOUND']),
  INTROSPECTION: booleanFlag.optional(),
  SANDBOX: booleanFlag.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    error: 'must be one of fatal, error, warn, info, debug, trace, silent',
  }).default('info'),
  BODY_LIMIT_BYTES: integer(1_024, 100 * 1024 * 1024).default(1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: integer(0, 600_000).default(10_000),
});
type Environment = z.infer<typeof environmentSchema>;

const SUBGRAPH_URL_VARIABLE = /^SUBGRAPH_([A-Z0-9_]+)_URL$/;
const SUBGRAPH_TIMEOUT_VARIABLE = /^SUBGRAPH_([A-Z0-9_]+)_TIMEOUT_MS$/;

/** The issuer and audience of development tokens, when no key source is configured. */
export const DEV_ISSUER = 'urn:graphql-gateway:dev';
export const DEV_AUDIENCE = 'graphql-gateway';

/** A configuration that cannot be used, with one line per problem, each saying how to fix it. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /**
   * Set by the test harness only: allows `NODE_ENV=test`, which behaves as development but may turn limits off
   * (`MAX_DEPTH=0`). An entry point never sets it, so no deployment can relax a limit by its environment.
   */
  testMode?: boolean;
}

/**
 * Parses and validates the environment into a `GatewayConfig`; throws a `ConfigError` that lists every problem.
 * An empty variable counts as unset (compose files write `${VAR:-}`).
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, options: LoadConfigOptions = {}): GatewayConfig {
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const problems: string[] = [];
  const parsed = environmentSchema.safeParse(given);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const variable = String(issue.path[0]);
      problems.push(`${variable} ${issue.message} (got ${JSON.stringify(given[variable])})`);
    }
  }

  const subgraphUrls: Record<string, string> = {};
  for (const [variable, value] of Object.entries(given)) {
    const match = SUBGRAPH_URL_VARIABLE.exec(variable);
    if (!match?.[1] || value === undefined) continue;
    const result = httpUrl.safeParse(value);
    if (result.success) subgraphUrls[match[1].toLowerCase()] = result.data; // = subgraphUrlKey(name)
    else problems.push(`${variable} ${result.error.issues[0]?.message ?? 'is not a URL'} (got ${JSON.stringify(value)})`);
  }

  const subgraphTimeouts: Record<string, number> = {};
  for (const [variable, value] of Object.entries(given)) {
    const match = SUBGRAPH_TIMEOUT_VARIABLE.exec(variable);
    if (!match?.[1] || value === undefined) continue;
    const result = integer(1, 300_000).safeParse(value);
    if (result.success) subgraphTimeouts[match[1].toLowerCase()] = result.data;
    else problems.push(`${variable} ${result.error.issues[0]?.message ?? 'is not a number'} (got ${JSON.stringify(value)})`);
  }

  if (!parsed.success) throw new ConfigError(problems);
  const values = parsed.data;
  const mode = values.NODE_ENV === 'production' ? 'production' : 'development';
  const testMode = values.NODE_ENV === 'test' && options.testMode === true;
  if (values.NODE_ENV === 'test' && !testMode) problems.push('NODE_ENV=test is reserved for the test harness: use development or production');
  const auth = authConfig(values, mode, problems);
  const forwardHeaders = values.FORWARD_HEADERS.map((header) => header.toLowerCase());
  for (const header of forwardHeaders) {
    if (UNFORWARDABLE_HEADERS.has(header)) {
      problems.push(`FORWARD_HEADERS must not contain ${header}: credentials, framing and routing headers of subgraph requests are the gateway's own`);
    }
  }
  // Development serves introspection, Sandbox, metrics and limit values whatever the key source: never on a network
  // unless asked for by name.
  if (mode === 'development' && !LOOPBACK_HOSTS.has(values.HOST) && !values.DEV_ALLOW_NETWORK) {
    problems.push(
      `HOST is ${values.HOST} in development mode, which serves introspection, Sandbox and metrics (and, without a key source, accepts self-signed development tokens): set NODE_ENV=production with a key source, bind HOST=127.0.0.1, or set DEV_ALLOW_NETWORK=true to expose it anyway`,
    );
  }
  if (values.HEADERS_TIMEOUT_MS > values.REQUEST_TIMEOUT_MS) {
    problems.push(`HEADERS_TIMEOUT_MS (${values.HEADERS_TIMEOUT_MS}) must not exceed REQUEST_TIMEOUT_MS (${values.REQUEST_TIMEOUT_MS}): the headers are part of the request`);
  }
  const fieldCaps: Record<string, number> = {};
  for (const entry of values.FIELD_CAPS) {
    const match = /^([A-Za-z_]\w*\.[A-Za-z_]\w*)=(\d+)$/.exec(entry);
    if (match?.[1] && match[2]) fieldCaps[match[1]] = Number(match[2]);
    else problems.push(`FIELD_CAPS entries must look like Type.field=N, e.g. Mutation.createReview=1 (got "${entry}")`);
  }
  if (values.CORS_ORIGINS.includes('*') && values.CORS_CREDENTIALS) {
    problems.push('CORS_ORIGINS=* with CORS_CREDENTIALS=true would let any site call the API with the user\'s cookies: list the origins');
  }
  for (const origin of values.CORS_ORIGINS) {
    if (origin !== '*' && !/^https?:\/\/[^/]+$/.test(origin)) problems.push(`CORS_ORIGINS entries must be origins like https://app.example.com, without a path (got "${origin}")`);
  }

  if (values.GATEWAY_WORKERS > 1 && values.RATE_LIMIT_POINTS > 0 && values.REDIS_URL === undefined) {
    problems.push('GATEWAY_WORKERS > 1 needs REDIS_URL, so that the workers share one rate budget (each would count alone otherwise)');
  }
  const limits: LimitsConfig = {
    maxDepth: values.MAX_DEPTH,
    maxAliases: values.MAX_ALIASES,
    maxRootFields: values.MAX_ROOT_FIELDS,
    maxDirectives: values.MAX_DIRECTIVES,
    maxTokens: values.MAX_TOKENS,
    maxQueryLength: values.MAX_QUERY_LENGTH,
    maxExpandedSelections: values.MAX_EXPANDED_SELECTIONS,
    maxErrors: values.MAX_ERRORS,
    maxCost: values.MAX_COST,
    defaultListSize: values.DEFAULT_LIST_SIZE,
    fieldCaps,
  };
  const introspection = values.INTROSPECTION ?? mode === 'development';
  const sandbox = values.SANDBOX ?? mode === 'development';
  if (mode === 'production') {
    // The production guard: every protection that can be switched off must be on.
    if (introspection) problems.push('INTROSPECTION must be off in production: it hands attackers the whole schema');
    if (sandbox) problems.push('SANDBOX must be off in production');
    if (!values.CSRF_PREVENTION) problems.push('CSRF_PREVENTION must be on in production');
    if (values.CORS_ORIGINS.includes('*')) problems.push('CORS_ORIGINS must list origins in production, not *');
  }
  if (!testMode) {
    // Only the test harness turns limits off; development keeps them, so that what works there works in production.
    const switchable = {
      MAX_DEPTH: limits.maxDepth, MAX_ALIASES: limits.maxAliases, MAX_ROOT_FIELDS: limits.maxRootFields, MAX_DIRECTIVES: limits.maxDirectives,
      MAX_TOKENS: limits.maxTokens, MAX_QUERY_LENGTH: limits.maxQueryLength, MAX_EXPANDED_SELECTIONS: limits.maxExpandedSelections, MAX_COST: limits.maxCost,
      RATE_LIMIT_POINTS: values.RATE_LIMIT_POINTS, MAX_CONNECTIONS_PER_CLIENT: values.MAX_CONNECTIONS_PER_CLIENT,
    };
    for (const [variable, value] of Object.entries(switchable)) {
      if (value === 0) problems.push(`${variable}=0 turns a limit off, which only the test harness may do: set a limit`);
    }
  }
  if (problems.length > 0 || auth === undefined) throw new ConfigError(problems);

  return {
    mode,
    host: values.HOST,
    port: values.PORT,
    supergraphPath: values.SUPERGRAPH_PATH,
    subgraphUrls,
    subgraphTimeoutMs: values.SUBGRAPH_TIMEOUT_MS,
    forwardHeaders,
    auth,
    subgraphTokens: { signingKeyFile: values.GATEWAY_SIGNING_KEY_FILE, issuer: values.GATEWAY_TOKEN_ISSUER, ttlSec: values.GATEWAY_TOKEN_TTL_SEC },
    deniedQueryFields: values.AUTHZ_DENIED_QUERY_FIELDS,
    limits,
    rateLimit: { points: values.RATE_LIMIT_POINTS, windowSec: values.RATE_LIMIT_WINDOW_SEC, redisUrl: values.REDIS_URL, planMissPoints: values.PLAN_MISS_POINTS },
    connections: {
      requestTimeoutMs: values.REQUEST_TIMEOUT_MS,
      headersTimeoutMs: values.HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: values.KEEP_ALIVE_TIMEOUT_MS,
      maxPerClient: values.MAX_CONNECTIONS_PER_CLIENT,
    },
    planCacheMiB: values.PLAN_CACHE_MIB,
    automaticPersistedQueries: values.AUTOMATIC_PERSISTED_QUERIES,
    trustedProxies: values.TRUSTED_PROXIES,
    corsOrigins: values.CORS_ORIGINS,
    corsCredentials: values.CORS_CREDENTIALS,
    csrfPrevention: values.CSRF_PREVENTION,
    publicErrorCodes: values.PUBLIC_ERROR_CODES,
    subgraphTimeouts,
    deduplicateSubgraphRequests: values.DEDUPLICATE_SUBGRAPH_REQUESTS,
    subgraphFetcher: values.SUBGRAPH_FETCHER,
    metrics:
      values.METRICS_PORT !== undefined
        ? { kind: 'port', host: values.METRICS_HOST ?? values.HOST, port: values.METRICS_PORT }
        : mode === 'development'
          ? { kind: 'main' }
          : { kind: 'off' },
    workers: values.GATEWAY_WORKERS,
    tracing: values.OTEL_EXPORTER_OTLP_ENDPOINT === undefined ? undefined : { endpoint: values.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: values.OTEL_SERVICE_NAME },
    introspection,
    sandbox,
    logLevel: values.LOG_LEVEL,
    bodyLimitBytes: values.BODY_LIMIT_BYTES,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS,
  };
}

function authConfig(values: Environment, mode: GatewayConfig['mode'], problems: string[]): AuthConfig | undefined {
  const before = problems.length;
  const algorithms: ClientTokenAlgorithm[] = [];
  for (const algorithm of values.JWT_ALGORITHMS) {
    if ((CLIENT_TOKEN_ALGORITHMS as readonly string[]).includes(algorithm)) algorithms.push(algorithm as ClientTokenAlgorithm);
    else problems.push(`JWT_ALGORITHMS may list only ${CLIENT_TOKEN_ALGORITHMS.join(', ')} (got "${algorithm}"): HMAC and none are never accepted`);
  }

  let keySource: KeySource;
  if (values.JWT_JWKS_URL !== undefined && values.JWT_PUBLIC_KEYS !== undefined) {
    problems.push('JWT_JWKS_URL and JWT_PUBLIC_KEYS are both set: choose one key source');
    return undefined;
  } else if (values.JWT_JWKS_URL !== undefined) {
    if (mode === 'production' && !values.JWT_JWKS_URL.startsWith('https://')) {
      problems.push(`JWT_JWKS_URL must use https:// in production, so keys cannot be swapped in transit (got "${values.JWT_JWKS_URL}")`);
    }
    keySource = { kind: 'jwks', url: values.JWT_JWKS_URL, cooldownMs: values.JWT_JWKS_COOLDOWN_MS, refreshMs: values.JWT_JWKS_REFRESH_MS, timeoutMs: values.JWT_JWKS_TIMEOUT_MS };
  } else if (values.JWT_PUBLIC_KEYS !== undefined) {
    keySource = { kind: 'file', path: values.JWT_PUBLIC_KEYS };
  } else if (mode === 'development') {
    keySource = { kind: 'dev', path: values.DEV_KEY_FILE };
  } else {
    problems.push('set JWT_JWKS_URL (your identity provider\'s JWKS, e.g. https://auth.example.com/.well-known/jwks.json) or JWT_PUBLIC_KEYS (a PEM or JWK file): production needs a key source for client tokens');
    return undefined;
  }

  const dev = keySource.kind === 'dev';
  if (!dev && values.JWT_ISSUER === undefined) problems.push('JWT_ISSUER is required with a key source: the issuer your tokens carry in "iss", e.g. https://auth.example.com/');
  if (!dev && (values.JWT_AUDIENCE === undefined || values.JWT_AUDIENCE.length === 0)) {
    problems.push('JWT_AUDIENCE is required with a key source: the audience your tokens carry in "aud" for this API, e.g. https://api.example.com');
  }
  if (problems.length > before) return undefined;
  return {
    keySource,
    issuer: values.JWT_ISSUER ?? DEV_ISSUER,
    audience: values.JWT_AUDIENCE ?? [DEV_AUDIENCE],
    algorithms: dev ? ['ES256'] : algorithms,
    clockToleranceSec: values.JWT_CLOCK_TOLERANCE_SEC,
    required: values.AUTH_REQUIRED,
    rolesClaim: values.JWT_ROLES_CLAIM,
    scopesClaims: values.JWT_SCOPES_CLAIMS,
    tokenCacheSize: values.JWT_TOKEN_CACHE_SIZE,
    maxLifetimeSec: values.JWT_MAX_LIFETIME_SEC,
  };
}

/** The key of a subgraph in `GatewayConfig.subgraphUrls`: its name in lower case, with `_` for anything else (`my-shop` → `my_shop`). */
export function subgraphUrlKey(subgraphName: string): string {
  return subgraphName.toLowerCase().replace(/[^a-z0-9]/g, '_');
}

/** The name of the variable that overrides a subgraph's URL: `SUBGRAPH_<NAME>_URL`. */
export function subgraphUrlVariable(subgraphName: string): string {
  return `SUBGRAPH_${subgraphName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`;
}

/** For a process's entry point: the configuration, or the list of problems on standard error and exit code 2. */
export function loadConfigOrExit(env: Readonly<Record<string, string | undefined>>): GatewayConfig {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}
