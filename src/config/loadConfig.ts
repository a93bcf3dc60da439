import proxyAddr from '@fastify/proxy-addr';
import { deny } from 'graphql-shield';
import { GraphQLError } from 'graphql';
import type { Policy } from '../authz/compilePolicy.js';
import { DEFAULT_SIGNAL_WEIGHTS } from '../clientBlocking/signals.js';
import { ErrorCode, policyError } from '../errors.js';
import { isPlainObject, readEnvironment } from './environment.js';
import { configSchema, type ClientTokenAlgorithm, type GatewayConfigInput, type KeySource, type ParsedConfig, type PolicyInput } from './schema.js';

/** The issuer and audience of development tokens, when no key source is configured. */
export const DEV_ISSUER = 'urn:graphql-gateway:dev';
export const DEV_AUDIENCE = 'graphql-gateway';

/** The settings of client token verification, once the key source is decided. */
export type AuthConfig = Omit<ParsedConfig['auth'], 'keySource' | 'issuer' | 'audience' | 'devKeyFile'> & {
  keySource: KeySource;
  issuer: string;
  audience: readonly string[];
  algorithms: readonly ClientTokenAlgorithm[];
};

/**
 * The gateway's configuration: the config module's settings with the environment over them, validated, with the
 * decisions that depend on several settings made (the key source, where metrics go, the mode's defaults). Everything
 * else receives this object; only entry points read the environment or a config module.
 */
export type GatewayConfig = Omit<ParsedConfig, 'auth' | 'policy' | 'metricsPort' | 'metricsHost' | 'introspection' | 'sandbox' | 'explorer' | 'devAllowNetwork' | 'clientBlocking' | 'cache'> & {
  auth: AuthConfig;
  /** Client blocking with its mode decided (the mode's default applied). */
  clientBlocking: Omit<ParsedConfig['clientBlocking'], 'mode' | 'offInProduction'> & { mode: 'off' | 'audit' | 'enforce' };
  cache: CacheConfig;
  policy: Policy;
  introspection: boolean;
  sandbox: boolean;
  /** Whether `/explorer` serves the local explorer (see `explorer` in schema.ts). */
  explorer: boolean;
  /**
   * Where Prometheus metrics are served: `main` (GET /metrics beside /graphql, development only, since metrics name
   * operations and subgraphs), a separate port, or nowhere.
   */
  metrics: { kind: 'main' } | { kind: 'port'; host: string; port: number } | { kind: 'off' };
};

/** The cache of public data, once its Redis is decided (`cache.redisUrl`, else `rateLimit.redisUrl`). */
export type CacheConfig =
  | { mode: 'off' }
  | { mode: 'memory'; maxEntries: number; maxMiB: number }
  | { mode: 'redis'; maxEntries: number; maxMiB: number; redisUrl: string; keyPrefix: string };

/** A configuration that cannot be used, with one line per problem, each saying how to fix it. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /** The team's config module (`export default defineConfig({...})`); the environment overrides it, field by field. */
  module?: GatewayConfigInput | undefined;
  /**
   * Set by the test harness only: allows `NODE_ENV=test`, which behaves as development but may turn limits off
   * (`MAX_DEPTH=0`). An entry point never sets it, so no deployment can relax a limit by its environment.
   */
  testMode?: boolean;
}

/** Headers that frame or route the gateway's own request to a subgraph, or carry credentials: never forwarded. */
const UNFORWARDABLE_HEADERS = new Set([
  'authorization', 'cookie', 'proxy-authorization', 'host', 'content-length', 'content-type', 'transfer-encoding',
  'connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'expect', 'x-request-id',
]);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * The policy as the gateway applies it. With none configured, nothing is allowed but what the supergraph's own
 * directives allow; whatever a policy leaves out is denied (`fallbackRule: deny`, unless the policy says otherwise), with
 * a FORBIDDEN error unless it names its own.
 */
function resolvePolicy(input: PolicyInput | undefined): Policy {
  return {
    ruleTree: input?.ruleTree ?? {},
    policies: input?.policies ?? {},
    options: {
      fallbackRule: input?.options?.fallbackRule ?? deny,
      // The policy's own words, whatever their code: they reach the caller as written (see policyError).
      fallbackError: policyError(input?.options?.fallbackError ?? new GraphQLError('Not authorised', { extensions: { code: ErrorCode.Forbidden } })),
    },
  };
}

/**
 * Validates the configuration once, at start: the config module's settings, then the environment over them (one
 * precedence rule: a variable that is set wins over the module). Throws a `ConfigError` that lists every problem, each
 * naming the variable (or the module's field) that holds it.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, options: LoadConfigOptions = {}): GatewayConfig {
  const { overlay, problems, variables, nodeEnv } = readEnvironment(env);
  const testMode = nodeEnv === 'test' && options.testMode === true;
  if (nodeEnv === 'test' && !testMode) problems.push('NODE_ENV=test is reserved for the test harness: use development or production');

  const merged = deepMerge(options.module ?? {}, overlay);
  // JWKS timings without a key source to time: said, not left to a puzzling "invalid discriminator".
  const keySource = isPlainObject(merged['auth']) ? merged['auth']['keySource'] : undefined;
  if (isPlainObject(keySource) && keySource['kind'] === undefined) {
    problems.push(`${['cooldownMs', 'refreshMs', 'timeoutMs'].filter((key) => keySource[key] !== undefined).map((key) => variables.get(`auth.keySource.${key}`) ?? `config auth.keySource.${key}`).join(', ')} set without JWT_JWKS_URL: they time a JWKS, and none is configured`);
    delete (merged['auth'] as Record<string, unknown>)['keySource'];
  }
  // A service name alone (OTEL_SERVICE_NAME in a shared environment) asks for no tracing: only an endpoint does.
  if (isPlainObject(merged['tracing']) && merged['tracing']['endpoint'] === undefined) delete merged['tracing'];
  let parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String).join('.');
      // A variable's own value was checked where it was read; what is left belongs to the module.
      if (variables.has(path)) continue;
      problems.push(`${nameOf(path, variables, options.module)} ${issue.message}`);
    }
    // Every problem at once: without the values already refused (their defaults apply), the checks that weigh
    // several settings together still run.
    for (const issue of parsed.error.issues) deletePath(merged, issue.path.map(String));
    parsed = configSchema.safeParse(merged);
    if (!parsed.success) throw new ConfigError(problems);
  }
  const values = parsed.data;
  const name = (path: string) => nameOf(path, variables, options.module);
  const mode = values.mode;

  const auth = authConfig(values, name, problems);
  for (const header of values.forwardHeaders) {
    if (UNFORWARDABLE_HEADERS.has(header)) problems.push(`${name('forwardHeaders')} must not contain ${header}: credentials, framing and routing headers of subgraph requests are the gateway's own`);
  }
  // Development serves introspection, Sandbox, metrics and limit values whatever the key source: never on a network
  // unless asked for by name.
  if (mode === 'development' && !LOOPBACK_HOSTS.has(values.host) && !values.devAllowNetwork) {
    problems.push(
      `${name('host')} is ${values.host} in development mode, which serves introspection, Sandbox and metrics (and, without a key source, accepts self-signed development tokens): set NODE_ENV=production with a key source, bind HOST=127.0.0.1, or set DEV_ALLOW_NETWORK=true to expose it anyway`,
    );
  }
  if (values.connections.headersTimeoutMs > values.connections.requestTimeoutMs) {
    problems.push(`${name('connections.headersTimeoutMs')} (${values.connections.headersTimeoutMs}) must not exceed ${name('connections.requestTimeoutMs')} (${values.connections.requestTimeoutMs}): the headers are part of the request`);
  }
  if (values.corsOrigins.includes('*') && values.corsCredentials) {
    problems.push(`${name('corsOrigins')}=* with ${name('corsCredentials')}=true would let any site call the API with the user's cookies: list the origins`);
  }
  if (values.workers > 1 && values.rateLimit.points !== 'off' && values.rateLimit.redisUrl === undefined) {
    problems.push(`${name('workers')} > 1 needs ${name('rateLimit.redisUrl')}, so that the workers share one rate budget (each would count alone otherwise)`);
  }
  const cacheRedisUrl = values.cache.redisUrl ?? values.rateLimit.redisUrl;
  // Replicas that share a Redis share their cache too: a mutation through one then evicts for all of them.
  const cacheMode = values.cache.mode ?? (cacheRedisUrl === undefined ? 'memory' : 'redis');
  if (cacheMode === 'redis' && cacheRedisUrl === undefined) {
    problems.push(`${name('cache.mode')}=redis needs ${name('cache.redisUrl')} (or ${name('rateLimit.redisUrl')}), e.g. redis://127.0.0.1:6379`);
  }
  if (values.trustedDocuments.mode !== 'off' && values.trustedDocuments.manifests.length === 0) {
    problems.push(`${name('trustedDocuments.mode')}=${values.trustedDocuments.mode} needs ${name('trustedDocuments.manifests')}: the manifests of the apps' operations`);
  }
  const clientBlocking = clientBlockingConfig(values, name, problems);
  const introspection = values.introspection ?? mode === 'development';
  const sandbox = values.sandbox ?? mode === 'development';
  const explorer = values.explorer ?? mode === 'development';
  if (mode === 'production') {
    // The production guard: every protection that can be switched off must be on.
    if (introspection) problems.push(`${name('introspection')} must be off in production: it hands attackers the whole schema`);
    if (sandbox) problems.push(`${name('sandbox')} must be off in production`);
    // The page is static, but in production only a bypass role may introspect: without one it could show nothing.
    if (explorer && values.trustedDocuments.bypassRoles.length === 0) {
      problems.push(`${name('explorer')} in production needs ${name('trustedDocuments.bypassRoles')}: only callers with such a role may introspect there (e.g. TRUSTED_DOCUMENTS_BYPASS_ROLES=graph-admin)`);
    }
    if (!values.csrfPrevention) problems.push(`${name('csrfPrevention')} must be on in production`);
    if (values.corsOrigins.includes('*')) problems.push(`${name('corsOrigins')} must list origins in production, not *`);
  }
  if (!testMode) {
    // Only the test harness turns limits off; development keeps them, so that what works there works in production.
    const switchable: Record<string, unknown> = {
      'limits.maxDepth': values.limits.maxDepth, 'limits.maxAliases': values.limits.maxAliases, 'limits.maxRootFields': values.limits.maxRootFields,
      'limits.maxDirectives': values.limits.maxDirectives, 'limits.maxTokens': values.limits.maxTokens, 'limits.maxQueryLength': values.limits.maxQueryLength,
      'limits.maxExpandedSelections': values.limits.maxExpandedSelections, 'limits.maxCost': values.limits.maxCost,
      'rateLimit.points': values.rateLimit.points, 'connections.maxPerClient': values.connections.maxPerClient,
    };
    for (const [path, value] of Object.entries(switchable)) {
      if (value === 'off') problems.push(`${variables.has(path) ? `${name(path)}=0` : `config ${path}: 'off'`} turns a limit off, which only the test harness may do: set a limit`);
    }
  }
  if (problems.length > 0 || auth === undefined) throw new ConfigError(problems);

  const { metricsPort, metricsHost, devAllowNetwork: _devAllowNetwork, policy, clientBlocking: _clientBlocking, cache, ...rest } = values;
  return {
    ...rest,
    auth,
    clientBlocking,
    cache:
      cacheMode === 'off'
        ? { mode: 'off' }
        : cacheMode === 'memory' || cacheRedisUrl === undefined
          ? { mode: 'memory', maxEntries: cache.maxEntries, maxMiB: cache.maxMiB }
          : { mode: 'redis', maxEntries: cache.maxEntries, maxMiB: cache.maxMiB, redisUrl: cacheRedisUrl, keyPrefix: cache.keyPrefix ?? `${values.redisKeyPrefix}:cache` },
    // Every rule was checked to be a graphql-shield rule (isShieldRule); the schema types them as graphql-shield's exported IRules.
    policy: resolvePolicy(policy as PolicyInput | undefined),
    introspection,
    sandbox,
    explorer,
    metrics: metricsPort !== undefined ? { kind: 'port', host: metricsHost ?? values.host, port: metricsPort } : mode === 'development' ? { kind: 'main' } : { kind: 'off' },
  };
}

/** Production's floor under the blocking settings: below it, blocking is on and blocks nobody (see `ineffectiveBlocking`). */
const EFFECTIVE_BLOCKING = {
  /** Requests of the heaviest signal within one window that may be needed to block, at most. */
  maxSignalsToBlock: 1_000,
  /** The shortest window: shorter, a prober that paces itself is forgotten before it adds up. */
  minWindowSec: 10,
  /** The shortest cooldown: shorter, a blocked prober hardly notices. */
  minCooldownSec: 10,
} as const;

function clientBlockingConfig(values: ParsedConfig, name: (path: string) => string, problems: string[]): GatewayConfig['clientBlocking'] {
  const { mode: given, offInProduction, ...settings } = values.clientBlocking;
  const mode = given ?? (values.mode === 'production' ? 'enforce' : 'off');
  const onPurpose = `${name('clientBlocking.offInProduction')}=true (CLIENT_BLOCKING_OFF_IN_PRODUCTION) to run so on purpose`;
  if (values.mode === 'production' && mode !== 'enforce' && !offInProduction) {
    problems.push(
      `${name('clientBlocking.mode')}=${mode} in production ${mode === 'audit' ? 'only logs the clients it would block' : 'lets a client probe, forge tokens and test limits for as long as it likes'}: set enforce, or ${onPurpose}`,
    );
  }
  // Settings that switch blocking off without saying so are refused as `off` is, under the same override;
  // development takes them (a test of the cooldown wants a short one).
  if (values.mode === 'production' && !offInProduction) {
    for (const problem of ineffectiveBlocking(settings, name)) problems.push(`${problem}, or ${onPurpose}`);
  }
  // One mistake never blocks: a weight as large as the threshold would block on a single request.
  for (const [signal, weight] of Object.entries(settings.weights)) {
    if (weight >= settings.threshold) problems.push(`${name(`clientBlocking.weights.${signal}`)} (${weight}) must be below ${name('clientBlocking.threshold')} (${settings.threshold}): one such request would block its client`);
  }
  try {
    if (settings.allowlist.cidrs.length > 0) proxyAddr.compile([...settings.allowlist.cidrs]);
  } catch (error) {
    problems.push(`${name('clientBlocking.allowlist.cidrs')} must list addresses or CIDR ranges, e.g. 10.0.0.0/8: ${(error as Error).message}`);
  }
  return { ...settings, mode };
}

/** What makes blocking block nobody in these settings, each problem naming its setting and a value that works. */
function ineffectiveBlocking(settings: Omit<ParsedConfig['clientBlocking'], 'mode' | 'offInProduction'>, name: (path: string) => string): string[] {
  const problems: string[] = [];
  const { maxSignalsToBlock, minWindowSec, minCooldownSec } = EFFECTIVE_BLOCKING;
  let heaviest: string | undefined;
  let weight = 0;
  for (const [signal, value] of Object.entries(settings.weights)) if (value > weight) [heaviest, weight] = [signal, value];
  if (heaviest === undefined) {
    problems.push(`${name('clientBlocking.weights')} are all 0 in production, so no request counts and no client is ever blocked: give the signals weights (the defaults: ${Object.entries(DEFAULT_SIGNAL_WEIGHTS).map(([signal, value]) => `${signal} ${value}`).join(', ')})`);
  } else if (Math.ceil(settings.threshold / weight) > maxSignalsToBlock) {
    problems.push(
      `${name('clientBlocking.threshold')} (${settings.threshold}) in production takes ${Math.ceil(settings.threshold / weight)} requests of the heaviest signal (${heaviest}, weight ${weight}) within one window to block a client, which no prober needs to send: set at most ${maxSignalsToBlock * weight} (${maxSignalsToBlock} of them; the default is 100)`,
    );
  }
  if (settings.decayWindowSec < minWindowSec) {
    problems.push(`${name('clientBlocking.decayWindowSec')} (${settings.decayWindowSec}) in production forgets a client's signals within seconds, so a prober that paces itself is never blocked: set at least ${minWindowSec} (the default is 60)`);
  }
  const short = settings.cooldownsSec.filter((cooldown) => cooldown < minCooldownSec);
  if (short.length > 0) {
    problems.push(`${name('clientBlocking.cooldownsSec')} (${settings.cooldownsSec.join(',')}) in production blocks for ${short.join(', ')} s, which a prober hardly notices: list cooldowns of at least ${minCooldownSec} s (the default is 60,600,3600)`);
  }
  return problems;
}

function authConfig(values: ParsedConfig, name: (path: string) => string, problems: string[]): AuthConfig | undefined {
  const before = problems.length;
  const { keySource: given, devKeyFile, issuer, audience, ...rest } = values.auth;
  let keySource: KeySource;
  if (given !== undefined && given.kind === 'dev' && values.mode === 'production') {
    problems.push(`${name('auth.keySource')} is the development issuer, which signs tokens for anyone who runs \`gateway token\`: production needs your identity provider's keys (JWT_JWKS_URL or JWT_PUBLIC_KEYS)`);
    return undefined;
  } else if (given !== undefined) {
    keySource = given;
    if (keySource.kind === 'jwks' && values.mode === 'production' && !keySource.url.startsWith('https://')) {
      problems.push(`${name('auth.keySource')} must use https:// in production, so keys cannot be swapped in transit (got "${keySource.url}")`);
    }
  } else if (values.mode === 'development') {
    keySource = { kind: 'dev', path: devKeyFile };
  } else {
    problems.push('set JWT_JWKS_URL (your identity provider\'s JWKS, e.g. https://auth.example.com/.well-known/jwks.json) or JWT_PUBLIC_KEYS (a PEM or JWK file): production needs a key source for client tokens');
    return undefined;
  }
  const dev = keySource.kind === 'dev';
  if (!dev && issuer === undefined) problems.push(`${name('auth.issuer')} is required with a key source: the issuer your tokens carry in "iss", e.g. https://auth.example.com/`);
  if (!dev && (audience === undefined || audience.length === 0)) {
    problems.push(`${name('auth.audience')} is required with a key source: the audience your tokens carry in "aud" for this API, e.g. https://api.example.com`);
  }
  if (problems.length > before) return undefined;
  return { ...rest, keySource, issuer: issuer ?? DEV_ISSUER, audience: audience ?? [DEV_AUDIENCE], algorithms: dev ? ['ES256'] : rest.algorithms };
}

/**
 * How a problem names a setting: by the environment variable that set it, else by its path in the module when the
 * module set it, else by the variable most people would set.
 */
function nameOf(path: string, variables: ReadonlyMap<string, string>, module: unknown): string {
  if (path === '') return 'config';
  const variable = variables.get(path) ?? [...variables].find(([set]) => path.startsWith(`${set}.`))?.[1];
  if (variable !== undefined) return variable;
  const inModule = path.split('.').reduce<unknown>((node, key) => (isPlainObject(node) ? node[key] : undefined), module) !== undefined;
  return inModule ? `config ${path}` : (DEFAULT_NAMES[path] ?? `config ${path}`);
}

/** How problems name a setting that neither the module nor the environment set: by the variable most people use. */
const DEFAULT_NAMES: Readonly<Record<string, string>> = {
  host: 'HOST', 'auth.issuer': 'JWT_ISSUER', 'auth.audience': 'JWT_AUDIENCE', 'auth.keySource': 'JWT_JWKS_URL', introspection: 'INTROSPECTION', sandbox: 'SANDBOX', explorer: 'EXPLORER',
  csrfPrevention: 'CSRF_PREVENTION', corsOrigins: 'CORS_ORIGINS', corsCredentials: 'CORS_CREDENTIALS', workers: 'GATEWAY_WORKERS', 'rateLimit.redisUrl': 'REDIS_URL', 'trustedDocuments.bypassRoles': 'TRUSTED_DOCUMENTS_BYPASS_ROLES',
  'cache.mode': 'CACHE_MODE', 'cache.redisUrl': 'CACHE_REDIS_URL', 'clientBlocking.mode': 'CLIENT_BLOCKING', 'clientBlocking.offInProduction': 'CLIENT_BLOCKING_OFF_IN_PRODUCTION',
  'clientBlocking.threshold': 'CLIENT_BLOCKING_THRESHOLD', 'clientBlocking.allowlist.cidrs': 'CLIENT_BLOCKING_ALLOW_CIDRS',
  'clientBlocking.decayWindowSec': 'CLIENT_BLOCKING_WINDOW_SEC', 'clientBlocking.cooldownsSec': 'CLIENT_BLOCKING_COOLDOWNS_SEC',
  forwardHeaders: 'FORWARD_HEADERS', 'connections.headersTimeoutMs': 'HEADERS_TIMEOUT_MS', 'connections.requestTimeoutMs': 'REQUEST_TIMEOUT_MS',
};

function deletePath(target: Record<string, unknown>, path: readonly string[]): void {
  let node: unknown = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(node)) return;
    node = node[key];
  }
  const last = path[path.length - 1];
  if (isPlainObject(node) && last !== undefined) delete node[last];
}

/** The module's settings with the environment's over them: objects merge key by key, anything else is replaced. */
function deepMerge(base: unknown, over: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(over)) {
    const current = result[key];
    result[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return result;
}

/** The key of a subgraph in `GatewayConfig.subgraphUrls`: its name in lower case, with `_` for anything else (`my-shop` → `my_shop`). */
export function subgraphUrlKey(subgraphName: string): string {
  return subgraphName.toLowerCase().replace(/[^a-z0-9]/g, '_');
}

/** The name of the variable that overrides a subgraph's URL: `SUBGRAPH_<NAME>_URL`. */
export function subgraphUrlVariable(subgraphName: string): string {
  return `SUBGRAPH_${subgraphName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`;
}

/** The name of the variable that sets how the gateway authenticates to a subgraph: `SUBGRAPH_<NAME>_AUTH`. */
export function subgraphAuthVariable(subgraphName: string): string {
  return `SUBGRAPH_${subgraphName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_AUTH`;
}

/** For a process's entry point: the configuration, or the list of problems on standard error and exit code 2. */
export function loadConfigOrExit(env: Readonly<Record<string, string | undefined>>, options: LoadConfigOptions = {}): GatewayConfig {
  try {
    return loadConfig(env, options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}
