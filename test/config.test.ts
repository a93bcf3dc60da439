import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, importConfigModule, loadConfig, subgraphUrlKey, subgraphUrlVariable, type GatewayConfigInput } from '../src/config/index.js';

/** The problems a configuration is refused with (none if it loads). */
function problemsOf(env: Record<string, string>, module?: Record<string, unknown>): readonly string[] {
  try {
    loadConfig(env, { module: module as GatewayConfigInput | undefined });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
}

describe('loadConfig', () => {
  it('defaults to development on 127.0.0.1:4000 with Sandbox and introspection', () => {
    const { policy, ...settings } = loadConfig({});
    expect(settings).toEqual({
      mode: 'development',
      host: '127.0.0.1',
      port: 4000,
      supergraphPath: 'schema/supergraph.graphql',
      subgraphUrls: {},
      subgraphTimeoutMs: 5000,
      subgraphTimeouts: {},
      introspection: true,
      sandbox: true,
      explorer: true,
      logLevel: 'info',
      bodyLimitBytes: 1048576,
      shutdownTimeoutMs: 10000,
      shutdownDelayMs: 0,
      forwardHeaders: [],
      auth: {
        keySource: { kind: 'dev', path: '.dev/dev-issuer-key.json' },
        issuer: 'urn:graphql-gateway:dev',
        audience: ['graphql-gateway'],
        algorithms: ['ES256'],
        clockToleranceSec: 5,
        required: false,
        rolesClaim: 'roles',
        scopesClaims: ['scope', 'scp'],
        tokenCacheSize: 10000,
        maxLifetimeSec: 86400,
      },
      subgraphTokens: { issuer: 'graphql-gateway', ttlSec: 10 },
      deniedQueryFields: 'remove',
      limits: { maxDepth: 10, maxAliases: 15, maxRootFields: 10, maxDirectives: 20, maxTokens: 2000, maxQueryLength: 32768, maxExpandedSelections: 2000, maxErrors: 10, maxSelectionPairs: 5000, maxCost: 10000, defaultListSize: 10, fieldCaps: {} },
      rateLimit: { points: 100000, windowSec: 60, planMissPoints: 1000 },
      redisKeyPrefix: 'gateway',
      clientBlocking: {
        mode: 'off',
        threshold: 100,
        decayWindowSec: 60,
        cooldownsSec: [60, 600, 3600],
        repeatMemorySec: 86400,
        weights: { credentials: 10, forbidden: 3, invalid: 10, limit: 20, untrusted: 10, rateLimited: 5 },
        allowlist: { cidrs: [], subjects: [] },
      },
      connections: { requestTimeoutMs: 30000, headersTimeoutMs: 10000, keepAliveTimeoutMs: 72000, maxPerClient: 64 },
      planCacheMiB: 30,
      automaticPersistedQueries: false,
      trustedDocuments: { mode: 'off', manifests: [], bypassRoles: [] },
      trustedProxies: [],
      corsOrigins: [],
      corsCredentials: false,
      csrfPrevention: true,
      publicErrorCodes: ['BAD_USER_INPUT', 'NOT_FOUND'],
      deduplicateSubgraphRequests: true,
      cache: { mode: 'memory', maxEntries: 10_000, maxMiB: 64 },
      metrics: { kind: 'main' },
      workers: 1,
    });
    // No policy configured: nothing is allowed but what the supergraph's own directives allow.
    expect(policy.ruleTree).toEqual({});
    expect(policy.options.fallbackError.extensions).toEqual({ code: 'FORBIDDEN' });
  });

  it('turns Sandbox and introspection off in production unless asked for', () => {
    const keys = { JWT_PUBLIC_KEYS: 'keys.pem', JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'api' };
    expect(loadConfig({ NODE_ENV: 'production', ...keys })).toMatchObject({ mode: 'production', introspection: false, sandbox: false });
    expect(loadConfig({ INTROSPECTION: 'false', SANDBOX: 'false' })).toMatchObject({ mode: 'development', introspection: false, sandbox: false });
  });

  it('serves the explorer in development, and in production only when asked for with a bypass role', () => {
    const production = { NODE_ENV: 'production', JWT_PUBLIC_KEYS: 'keys.pem', JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'api' };
    expect(loadConfig({}).explorer).toBe(true);
    expect(loadConfig({ EXPLORER: 'false' }).explorer).toBe(false);
    expect(loadConfig(production).explorer).toBe(false);
    expect(loadConfig({ ...production, EXPLORER: 'true', TRUSTED_DOCUMENTS_BYPASS_ROLES: 'graph-admin' })).toMatchObject({ explorer: true, introspection: false });
    expect(problemsOf({ ...production, EXPLORER: 'true' })).toEqual([
      'EXPLORER in production needs TRUSTED_DOCUMENTS_BYPASS_ROLES: only callers with such a role may introspect there (e.g. TRUSTED_DOCUMENTS_BYPASS_ROLES=graph-admin)',
    ]);
  });

  it('lets development mode bind to the network only when told to', () => {
    expect(loadConfig({ HOST: '0.0.0.0', DEV_ALLOW_NETWORK: 'true' }).host).toBe('0.0.0.0');
  });

  it('reads per-subgraph URL overrides by name', () => {
    expect(loadConfig({ SUBGRAPH_ACCOUNTS_URL: 'http://10.0.0.7:4001/graphql', SUBGRAPH_MY_SHOP_URL: 'https://shop.internal/graphql' }).subgraphUrls).toEqual({
      accounts: 'http://10.0.0.7:4001/graphql',
      my_shop: 'https://shop.internal/graphql',
    });
    expect(subgraphUrlVariable('my-shop')).toBe('SUBGRAPH_MY_SHOP_URL');
    expect(subgraphUrlKey('my-shop')).toBe('my_shop');
  });

  it('lists every bad value at once, each with what would be right', () => {
    expect(problemsOf({ NODE_ENV: 'prod', PORT: '99999', LOG_LEVEL: 'loud', SANDBOX: 'yes', SUBGRAPH_X_URL: 'ftp://x' })).toEqual([
      'NODE_ENV must be development, production or test (got "prod")',
      'PORT must be at most 65535 (got "99999")',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      'SANDBOX must be true or false (got "yes")',
      'SUBGRAPH_X_URL must be an http:// or https:// URL, e.g. http://accounts:4001/graphql (got "ftp://x")',
    ]);
  });

  it('reads a JWKS key source with its issuer, audiences and algorithms', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      JWT_JWKS_URL: 'https://auth.example.com/jwks.json',
      JWT_ISSUER: 'https://auth.example.com/',
      JWT_AUDIENCE: 'https://api.example.com, api',
      JWT_ALGORITHMS: 'RS256 PS256',
      JWT_ROLES_CLAIM: 'realm_access.roles',
    });
    expect(config.auth).toMatchObject({
      keySource: { kind: 'jwks', url: 'https://auth.example.com/jwks.json', cooldownMs: 30000, refreshMs: 600000, timeoutMs: 5000 },
      issuer: 'https://auth.example.com/',
      audience: ['https://api.example.com', 'api'],
      algorithms: ['RS256', 'PS256'],
      rolesClaim: 'realm_access.roles',
    });
  });

  it('treats an empty variable as unset, as compose files write ${VAR:-}', () => {
    expect(loadConfig({ JWT_JWKS_URL: '', JWT_ISSUER: '', PORT: '' }).auth.keySource.kind).toBe('dev');
  });

  it.each([
    ['production without a key source', { NODE_ENV: 'production' }, /set JWT_JWKS_URL .* or JWT_PUBLIC_KEYS/],
    ['a key source without issuer and audience', { JWT_PUBLIC_KEYS: 'keys.pem' }, /JWT_ISSUER is required[\s\S]*JWT_AUDIENCE is required/],
    ['both key sources', { JWT_PUBLIC_KEYS: 'keys.pem', JWT_JWKS_URL: 'https://a/jwks', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }, /choose one key source/],
    ['HMAC in the algorithm list', { JWT_ALGORITHMS: 'RS256,HS256' }, /JWT_ALGORITHMS may list only .*: HMAC and none are never accepted \(got "RS256,HS256"\)/],
    ['none in the algorithm list', { JWT_ALGORITHMS: 'none' }, /got "none"/],
    ['an http JWKS in production', { NODE_ENV: 'production', JWT_JWKS_URL: 'http://auth/jwks', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }, /must use https:\/\/ in production/],
    ['forwarding the client\'s Authorization header', { FORWARD_HEADERS: 'x-tenant,Authorization' }, /FORWARD_HEADERS must not contain authorization/],
    ['forwarding a framing header', { FORWARD_HEADERS: 'content-length' }, /FORWARD_HEADERS must not contain content-length/],
    ['a blank port', { PORT: ' ' }, /PORT must be a whole number/],
    ['a hexadecimal port', { PORT: '0x10' }, /PORT must be a whole number/],
    ['an empty algorithm list', { JWT_ALGORITHMS: ',' }, /JWT_ALGORITHMS must list at least one value/],
    ['a JWKS cooldown of zero', { JWT_JWKS_COOLDOWN_MS: '0' }, /JWT_JWKS_COOLDOWN_MS must be at least 1000/],
    ['development tokens on a network interface', { HOST: '0.0.0.0' }, /HOST is 0.0.0.0 in development mode/],
    ['CORS for any origin with credentials', { CORS_ORIGINS: '*', CORS_CREDENTIALS: 'true' }, /CORS_ORIGINS=\* with CORS_CREDENTIALS=true/],
    ['a CORS origin with a path', { CORS_ORIGINS: 'https://app.example.com/x' }, /CORS_ORIGINS entries must be origins/],
    ['a malformed field cap', { FIELD_CAPS: 'createReview' }, /FIELD_CAPS entries must look like Type.field=N/],
    ['several workers without Redis', { GATEWAY_WORKERS: '2' }, /GATEWAY_WORKERS > 1 needs REDIS_URL/],
    ['a non-Redis REDIS_URL', { REDIS_URL: 'http://127.0.0.1:6379' }, /REDIS_URL must be a redis:\/\//],
  ])('refuses %s', (_case, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('refuses, in production, every protection switched off, listing them all', () => {
    const keys = { JWT_PUBLIC_KEYS: 'keys.pem', JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'api' };
    expect(problemsOf({ NODE_ENV: 'production', ...keys, INTROSPECTION: 'true', SANDBOX: 'true', CSRF_PREVENTION: 'false', CORS_ORIGINS: '*', MAX_DEPTH: '0', MAX_COST: '0', RATE_LIMIT_POINTS: '0' })).toEqual([
      'INTROSPECTION must be off in production: it hands attackers the whole schema',
      'SANDBOX must be off in production',
      'CSRF_PREVENTION must be on in production',
      'CORS_ORIGINS must list origins in production, not *',
      'MAX_DEPTH=0 turns a limit off, which only the test harness may do: set a limit',
      'MAX_COST=0 turns a limit off, which only the test harness may do: set a limit',
      'RATE_LIMIT_POINTS=0 turns a limit off, which only the test harness may do: set a limit',
    ]);
  });

  it.each([
    ['development', { MAX_DEPTH: '0', MAX_EXPANDED_SELECTIONS: '0', MAX_CONNECTIONS_PER_CLIENT: '0' }],
    ['NODE_ENV=test from an entry point', { NODE_ENV: 'test', MAX_COST: '0' }],
  ])('keeps every limit on in %s: only the test harness may turn one off', (_case, env) => {
    expect(() => loadConfig(env)).toThrow(/turns a limit off, which only the test harness may do/);
  });

  it('reserves NODE_ENV=test for the test harness', () => {
    expect(problemsOf({ NODE_ENV: 'test' })).toEqual(['NODE_ENV=test is reserved for the test harness: use development or production']);
    expect(loadConfig({ NODE_ENV: 'test', MAX_DEPTH: '0' }, { testMode: true }).limits.maxDepth).toBe('off');
  });

  it('refuses a development gateway on a network interface whatever the key source', () => {
    const keys = { JWT_PUBLIC_KEYS: 'keys.pem', JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'api' };
    expect(() => loadConfig({ HOST: '0.0.0.0', ...keys })).toThrow(/HOST is 0.0.0.0 in development mode/);
    expect(loadConfig({ HOST: '0.0.0.0', ...keys, NODE_ENV: 'production' }).host).toBe('0.0.0.0');
  });

  it.each([
    ['nothing set: in memory', {}, { mode: 'memory', maxEntries: 10_000, maxMiB: 64 }],
    ['a Redis configured: shared through it', { REDIS_URL: 'redis://redis:6379' }, { mode: 'redis', maxEntries: 10_000, maxMiB: 64, redisUrl: 'redis://redis:6379', keyPrefix: 'gateway:cache' }],
    ['a Redis of its own', { CACHE_MODE: 'redis', CACHE_REDIS_URL: 'redis://cache:6379', REDIS_URL: 'redis://redis:6379' }, { mode: 'redis', maxEntries: 10_000, maxMiB: 64, redisUrl: 'redis://cache:6379', keyPrefix: 'gateway:cache' }],
    ['in memory although a Redis is configured', { CACHE_MODE: 'memory', REDIS_URL: 'redis://redis:6379', CACHE_MAX_ENTRIES: '500' }, { mode: 'memory', maxEntries: 500, maxMiB: 64 }],
    ['off', { CACHE_MODE: 'off' }, { mode: 'off' }],
  ])('reads the cache settings: %s', (_case, env, expected) => {
    expect(loadConfig(env).cache).toEqual(expected);
  });

  it('refuses a cache in Redis without a Redis, and a mode it does not know', () => {
    expect(problemsOf({ CACHE_MODE: 'redis' })).toEqual(['CACHE_MODE=redis needs CACHE_REDIS_URL (or REDIS_URL), e.g. redis://127.0.0.1:6379']);
    expect(problemsOf({ CACHE_MODE: 'disk' })).toEqual(['CACHE_MODE must be off, memory or redis (got "disk")']);
  });

  it('refuses a header timeout longer than the request timeout', () => {
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: '40000', REQUEST_TIMEOUT_MS: '30000' })).toThrow(/HEADERS_TIMEOUT_MS \(40000\) must not exceed REQUEST_TIMEOUT_MS/);
  });

  it('reads per-subgraph timeouts', () => {
    expect(loadConfig({ SUBGRAPH_REVIEWS_TIMEOUT_MS: '1500' }).subgraphTimeouts).toEqual({ reviews: 1500 });
  });
});

describe('a config module with the environment over it', () => {
  it('takes the module\'s settings, and the environment wins field by field', () => {
    const config = loadConfig({ MAX_COST: '7000' }, { module: { limits: { maxCost: 5000, maxDepth: 8, fieldCaps: { 'Mutation.pay': 1 } }, corsOrigins: ['https://shop.example.com'] } });
    expect(config.limits).toMatchObject({ maxCost: 7000, maxDepth: 8, maxAliases: 15, fieldCaps: { 'Mutation.pay': 1 } });
    expect(config.corsOrigins).toEqual(['https://shop.example.com']);
  });

  it('merges a key source from both: the module names the JWKS, the environment its timeout', () => {
    const config = loadConfig({ JWT_JWKS_TIMEOUT_MS: '2000', JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'api' }, { module: { auth: { keySource: { kind: 'jwks', url: 'https://auth.example.com/jwks.json' } } } });
    expect(config.auth.keySource).toEqual({ kind: 'jwks', url: 'https://auth.example.com/jwks.json', cooldownMs: 30000, refreshMs: 600000, timeoutMs: 2000 });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a limit out of range', { limits: { maxDepth: 0 } }, 'config limits.maxDepth must be at least 1'],
    ['a limit turned off outside the test harness', { limits: { maxCost: 'off' } }, "config limits.maxCost: 'off' turns a limit off, which only the test harness may do: set a limit"],
    ['a malformed field cap', { limits: { fieldCaps: { createReview: 1 } } }, 'config limits.fieldCaps.createReview must name a field as Type.field, e.g. Mutation.createReview'],
    ['a policy without a rule tree', { policy: { policies: {} } }, 'config policy.ruleTree must be a graphql-shield rule tree: { Type: rule } or { Type: { field: rule } }'],
  ])('names %s by its path in the module', (_case, module, problem) => {
    expect(problemsOf({}, module)).toContain(problem);
  });

  it('lists a bad module value together with the problems of the settings around it', () => {
    expect(problemsOf({ NODE_ENV: 'production', JWT_PUBLIC_KEYS: 'keys.pem', JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'api' }, { limits: { maxDepth: 0 }, introspection: true })).toEqual([
      'config limits.maxDepth must be at least 1',
      'config introspection must be off in production: it hands attackers the whole schema',
    ]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a misspelt setting', { limit: { maxDepth: 5 } }, 'config Unrecognized key: "limit"'],
    ['a misspelt limit', { limits: { maxDeph: 5 } }, 'config limits Unrecognized key: "maxDeph"'],
  ])('refuses %s instead of leaving a protection at its default', (_case, module, problem) => {
    expect(problemsOf({}, module)).toContain(problem);
  });

  it.each<[string, Record<string, string>, Record<string, unknown>, string]>([
    ['the development issuer in production', { NODE_ENV: 'production' }, { auth: { keySource: { kind: 'dev', path: '/tmp/key.json' } } }, "config auth.keySource is the development issuer, which signs tokens for anyone who runs `gateway token`: production needs your identity provider's keys (JWT_JWKS_URL or JWT_PUBLIC_KEYS)"],
    ['JWKS timings without a JWKS', { JWT_JWKS_COOLDOWN_MS: '5000' }, {}, 'JWT_JWKS_COOLDOWN_MS set without JWT_JWKS_URL: they time a JWKS, and none is configured'],
    ['a policy leaf that is not a rule', {}, { policy: { ruleTree: { Query: { topProducts: 'allow' } } } }, "config policy.ruleTree.Query.topProducts must be a graphql-shield rule (rule(), inputRule(), allow, deny, and(), or(), not(), chain(), race())"],
    ['allowExternalErrors: true, which a gateway cannot honour', {}, { policy: { ruleTree: {}, options: { allowExternalErrors: true } } }, "config policy.options.allowExternalErrors has no effect at a gateway: subgraph errors reach clients by the gateway's masking (PUBLIC_ERROR_CODES, publicErrorCodes); leave it out"],
    ['a misspelt policy key', {}, { policy: { ruleTree: {}, polices: {} } }, 'config policy Unrecognized key: "polices"'],
    ['a fallback error that is a string', {}, { policy: { ruleTree: {}, options: { fallbackError: 'Nope' } } }, "config policy.options.fallbackError must be a GraphQLError, e.g. new GraphQLError('Not authorised', { extensions: { code: 'FORBIDDEN' } })"],
    ['a Redis URL with a password, without echoing it', { REDIS_URL: 'redis//:s3cret@redis:6379' }, {}, 'REDIS_URL must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379 (got "redis//:s3cret@redis:6379")'],
  ])('refuses %s', (_case, env, module, problem) => {
    expect(problemsOf(env, module)).toContain(problem);
  });

  it('never quotes the credentials of a URL it refuses', () => {
    expect(problemsOf({ REDIS_URL: 'http://user:s3cret@redis:6379' })).toEqual(['REDIS_URL must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379 (got "http://***@redis:6379")']);
  });

  it('asks for no tracing with a service name and no endpoint', () => {
    expect(loadConfig({ OTEL_SERVICE_NAME: 'shop-gateway' }).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_SERVICE_NAME: 'shop-gateway', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing).toEqual({ endpoint: 'http://collector:4318', serviceName: 'shop-gateway' });
  });

  it('loads a TypeScript config module, the demo\'s, with its policy', async () => {
    const module = await importConfigModule('gateway.config.ts');
    const config = loadConfig({}, { module });
    expect(Object.keys(config.policy.ruleTree)).toEqual(['Query', 'Mutation', 'User', 'Product', 'Review']);
    expect(Object.keys(config.policy.policies)).toEqual(['admin', 'public']);
    expect(config.limits.fieldCaps).toEqual({ 'Mutation.createReview': 1 });
  });

  it('says what is wrong with a config module that is missing or exports nothing', async () => {
    await expect(importConfigModule('nowhere.config.ts')).rejects.toThrow(/the config module nowhere.config.ts does not exist/);
    const dir = await mkdtemp(join(tmpdir(), 'config-module-'));
    await writeFile(join(dir, 'empty.config.mjs'), 'export const limits = {};\n');
    await expect(importConfigModule(join(dir, 'empty.config.mjs'))).rejects.toThrow(/must export its configuration, a plain object, as the default export/);
    await writeFile(join(dir, 'list.config.mjs'), 'export default [];\n');
    await expect(importConfigModule(join(dir, 'list.config.mjs'))).rejects.toThrow(/a plain object/);
  });
});

describe('subgraph authentication (issue 10)', () => {
  const allowed = "must be mint (a token the gateway signs for the subgraph) or forward (the client's verified token, unchanged)";

  it('reads SUBGRAPH_AUTH as every subgraph\'s mode and SUBGRAPH_<NAME>_AUTH as one subgraph\'s', () => {
    const config = loadConfig({ SUBGRAPH_AUTH: 'forward', SUBGRAPH_REVIEWS_AUTH: 'mint', SUBGRAPH_MY_SHOP_AUTH: 'forward' });
    expect(config.subgraphAuthDefault).toBe('forward');
    expect(config.subgraphAuth).toEqual({ reviews: 'mint', my_shop: 'forward' });
  });

  it.each([
    ['SUBGRAPH_AUTH', 'none'],
    ['SUBGRAPH_REVIEWS_AUTH', 'unauthenticated'],
    ['SUBGRAPH_REVIEWS_AUTH', 'Forward'],
  ])('refuses %s=%s, naming the modes there are', (variable, value) => {
    expect(problemsOf({ [variable]: value })).toEqual([`${variable} ${allowed} (got "${value}")`]);
  });

  it('refuses a module\'s unknown mode by its path', () => {
    expect(problemsOf({}, { subgraphAuth: { reviews: 'none' } })).toEqual([`config subgraphAuth.reviews ${allowed}`]);
    expect(problemsOf({}, { subgraphAuthDefault: 'none' })).toEqual([`config subgraphAuthDefault ${allowed}`]);
  });

  it('takes a module\'s override as it takes the variable, and the variable wins', () => {
    const fromModule = loadConfig({}, { module: { subgraphAuth: { reviews: 'forward' } } });
    expect(fromModule.subgraphAuth).toEqual(loadConfig({ SUBGRAPH_REVIEWS_AUTH: 'forward' }).subgraphAuth);
    expect(fromModule.subgraphAuth).toEqual({ reviews: 'forward' });

    const both = loadConfig({ SUBGRAPH_REVIEWS_AUTH: 'mint', SUBGRAPH_AUTH: 'mint' }, { module: { subgraphAuthDefault: 'forward', subgraphAuth: { reviews: 'forward', products: 'forward' } } });
    expect(both.subgraphAuthDefault).toBe('mint');
    expect(both.subgraphAuth).toEqual({ reviews: 'mint', products: 'forward' });
  });

  it('leaves both unset when nothing names them: every subgraph is then minted a token (see test/subgraphAuth.test.ts)', () => {
    const config = loadConfig({});
    expect(config.subgraphAuthDefault).toBeUndefined();
    expect(config.subgraphAuth).toBeUndefined();
  });
});
