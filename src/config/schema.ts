import { z } from 'zod';
import type { IRules } from 'graphql-shield';
import { GraphQLError } from 'graphql';
import { isShieldRule, type ShieldOptions, type ShieldRule } from '../authz/ruleEvaluation.js';
import { DEFAULT_SIGNAL_WEIGHTS, SUSPICION_SIGNALS, type SuspicionSignal } from '../clientBlocking/signals.js';

const shieldRule = z.custom<IRules>(isShieldRule, { error: 'must be a graphql-shield rule (rule(), inputRule(), allow, deny, and(), or(), not(), chain(), race())' });

/**
 * A rule tree: a rule for everything, per type, or per field (graphql-shield's shapes), every leaf a rule. Checked
 * here, at start, so that a leaf that is not a rule is a configuration problem with its path, not a 500 per request.
 */
const ruleTreeSchema = z
  .custom<IRules>((value) => typeof value === 'object' && value !== null, { error: 'must be a graphql-shield rule tree: { Type: rule } or { Type: { field: rule } }' })
  .superRefine((tree, context) => {
    if (isShieldRule(tree)) return;
    const problem = (path: string[]) => context.addIssue({ code: 'custom', path, message: 'must be a graphql-shield rule (rule(), inputRule(), allow, deny, and(), or(), not(), chain(), race())' });
    for (const [type, entry] of Object.entries(tree as Record<string, unknown>)) {
      if (isShieldRule(entry)) continue;
      if (typeof entry !== 'object' || entry === null) problem([type]);
      else for (const [field, leaf] of Object.entries(entry)) if (!isShieldRule(leaf)) problem([type, field]);
    }
  });

const policySchema = z.strictObject(
  {
    ruleTree: ruleTreeSchema,
    policies: z.record(z.string(), shieldRule).optional(),
    options: z
      .strictObject({
        fallbackRule: shieldRule.optional(),
        // In graphql-shield it lets errors thrown by resolvers through; at the gateway the resolvers are the subgraphs,
        // whose errors the gateway's own masking governs (PUBLIC_ERROR_CODES): `true` would promise what it cannot do.
        allowExternalErrors: z.literal(false, { error: 'has no effect at a gateway: subgraph errors reach clients by the gateway\'s masking (PUBLIC_ERROR_CODES, publicErrorCodes); leave it out' }).optional(),
        fallbackError: z.instanceof(GraphQLError, { error: 'must be a GraphQLError, e.g. new GraphQLError(\'Not authorised\', { extensions: { code: \'FORBIDDEN\' } })' }).optional(),
      })
      .optional(),
  },
);

/**
 * The access policy as a config module writes it: a graphql-shield rule tree, the named rules `@policy(policies:
 * [["name"]])` in a subgraph's SDL refers to, and shield's options (deny what the tree does not name, and no raw
 * errors to clients, unless said otherwise).
 */
export interface PolicyInput {
  ruleTree: IRules;
  policies?: Readonly<Record<string, ShieldRule>>;
  options?: Partial<ShieldOptions>;
}

/** Asymmetric JWS algorithms a client token may use. HMAC and `none` are never accepted (see `auth.algorithms`). */
export const CLIENT_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type ClientTokenAlgorithm = (typeof CLIENT_TOKEN_ALGORITHMS)[number];

const whole = (min: number, max: number) =>
  z.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` });
/** A limit that only the test harness may turn off; the environment spells `off` as 0. */
const limit = (max: number, fallback: number) => z.union([z.literal('off'), whole(1, max)], { error: `must be off or a whole number from 1 to ${max}` }).default(fallback);
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL, e.g. http://accounts:4001/graphql' });

/**
 * How the gateway authenticates its requests to a subgraph. `mint`: a short-lived token the gateway signs for that
 * subgraph alone (the default, see src/auth/subgraphTokens.ts). `forward`: the client's token that the gateway
 * verified, unchanged, for a subgraph that verifies the identity provider's tokens itself. There is deliberately no
 * third mode that sends nothing: an anonymous caller's request carries no credentials under `forward`, which a
 * subgraph treats as it treats any anonymous call (issue 10).
 */
export const SUBGRAPH_AUTH_MODES = ['mint', 'forward'] as const;
export type SubgraphAuthMode = (typeof SUBGRAPH_AUTH_MODES)[number];
/** The mode of every subgraph that neither `subgraphAuthDefault` nor `subgraphAuth` names. */
export const DEFAULT_SUBGRAPH_AUTH_MODE: SubgraphAuthMode = 'mint';
const subgraphAuthMode = z.enum(SUBGRAPH_AUTH_MODES, {
  error: "must be mint (a token the gateway signs for the subgraph) or forward (the client's verified token, unchanged)",
});

/** Where the public keys that verify client tokens come from. */
/** An identity provider's JWKS: cached, refreshed in the background, refetched (with a cooldown) on an unknown `kid`. */
export const jwksSourceSchema = z.object({
    kind: z.literal('jwks'),
    url: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of a JWKS, e.g. https://auth.example.com/.well-known/jwks.json' }),
    // At least a second: with no cooldown, every token with a made-up kid would make the gateway fetch the JWKS.
    cooldownMs: whole(1_000, 3_600_000).default(30_000),
    refreshMs: whole(1_000, 86_400_000).default(600_000),
    timeoutMs: whole(100, 60_000).default(5_000),
  });
const keySourceSchema = z.discriminatedUnion('kind', [
  jwksSourceSchema,
  /** Public keys in a file: PEM (one or more keys or certificates), a JWK, or a JWK set. */
  z.object({ kind: z.literal('file'), path: z.string().min(1) }),
  /** Development only: a local key pair in `path`, created on first use; `npm run token` signs with it. */
  z.object({ kind: z.literal('dev'), path: z.string().min(1).default('.dev/dev-issuer-key.json') }),
]);
export type KeySource = z.output<typeof keySourceSchema>;

export const authSchema = z.strictObject({
  /** Absent: the development issuer in development, a refusal in production. */
  keySource: keySourceSchema.optional(),
  /** Development only, without a key source: the local issuer's key pair, created on first use. */
  devKeyFile: z.string().min(1).default('.dev/dev-issuer-key.json'),
  issuer: z.string().min(1).optional(),
  /** Accepted audiences; a token must name at least one. */
  audience: z.array(z.string().min(1)).optional(),
  /**
   * Accepted algorithms. Only asymmetric ones exist here: with public keys configured, accepting HS256 would let
   * anyone who knows the public key sign tokens with it as the HMAC secret.
   */
  algorithms: z.array(z.enum(CLIENT_TOKEN_ALGORITHMS, { error: `may list only ${CLIENT_TOKEN_ALGORITHMS.join(', ')}: HMAC and none are never accepted` })).min(1).default(['RS256', 'ES256']),
  clockToleranceSec: whole(0, 300).default(5),
  /** Reject anonymous callers with 401 instead of letting later rules decide what they may see. */
  required: z.boolean().default(false),
  /** Dot path of the roles claim, e.g. `roles` or `realm_access.roles`. */
  rolesClaim: z.string().min(1).default('roles'),
  /** Dot paths tried in order for scopes (space-separated string or array), e.g. `scope`, `scp`. */
  scopesClaims: z.array(z.string().min(1)).min(1).default(['scope', 'scp']),
  /** Verified tokens kept until they expire, at most this many; 0 turns the cache off. */
  tokenCacheSize: whole(0, 1_000_000).default(10_000),
  /**
   * The longest lifetime (`exp` minus `iat`, or minus now without `iat`) a token may have. A token valid for a
   * century would otherwise be accepted, and cached, for as long as it claims.
   */
  maxLifetimeSec: whole(60, 31_536_000).default(86_400),
});

export const limitsSchema = z.strictObject({
  maxDepth: limit(1_000, 10),
  maxAliases: limit(10_000, 15),
  maxRootFields: limit(10_000, 10),
  maxDirectives: limit(10_000, 20),
  /** Parser tokens per document: the parser gives up past this. */
  maxTokens: limit(1_000_000, 2_000),
  /**
   * Characters of one document. Tokens do not count whitespace, comments or the length of a string literal, and a
   * cached document keeps its whole source alive: a 900 KB comment behind a 20-token query would otherwise be kept.
   */
  maxQueryLength: limit(100 * 1024 * 1024, 32_768),
  /**
   * Selections (fields, inline fragments, spreads) an operation would have with every fragment spread expanded,
   * counted without expanding (Apollo Server's `maxRecursiveSelections`). Decided before any other limit looks at
   * the document, so that no walk of it can blow up: `{ ...F20 }` where each `Fi` spreads `F(i-1)` twice is 2^20.
   */
  maxExpandedSelections: limit(10_000_000, 2_000),
  /**
   * Pairs of selections graphql-js's overlap rule (OverlappingFieldsCanBeMerged) must compare: in one selection set,
   * every two fields of one response key and every two fragment spreads. That rule is quadratic and runs before the
   * gateway's own rules; a 10 KB document of one field repeated 490 times cost 53 ms.
   */
  maxSelectionPairs: whole(1, 10_000_000).default(5_000),
  /** The largest estimated cost (see src/analysis/operationAnalysis.ts) an operation may have. */
  maxCost: limit(100_000_000, 10_000),
  /** Errors in one answer, at most; validation stops after this many. */
  maxErrors: whole(1, 1_000).default(10),
  /** Elements assumed in a list whose size nothing gives. */
  defaultListSize: whole(1, 100_000).default(10),
  /** The most times a field may be selected in one operation, aliases included, by `Type.field`. */
  fieldCaps: z
    .record(z.string(), whole(0, 1_000_000))
    .superRefine((caps, context) => {
      for (const field of Object.keys(caps)) {
        if (!/^[A-Za-z_]\w*\.[A-Za-z_]\w*$/.test(field)) context.addIssue({ code: 'custom', path: [field], message: 'must name a field as Type.field, e.g. Mutation.createReview' });
      }
    })
    .default({}),
});

/**
 * The gateway's configuration as a config module (`defineConfig`) writes it; the environment overlays it. Strict: a
 * misspelt setting (`limit` for `limits`) is an error, not a protection silently left at its default.
 */
export const configSchema = z.strictObject({
  mode: z.enum(['development', 'production']).default('development'),
  host: z.string().min(1).default('127.0.0.1'),
  port: whole(0, 65_535).default(4000),
  /** The composed supergraph SDL; watched for changes. */
  supergraphPath: z.string().min(1).default('schema/supergraph.graphql'),
  /** Per-subgraph URL overrides, by `subgraphUrlKey(name)`. */
  subgraphUrls: z.record(z.string(), httpUrl).default({}),
  /** How long one subgraph request may take before the gateway gives up on it. */
  subgraphTimeoutMs: whole(1, 300_000).default(5_000),
  /** Per-subgraph deadlines, by `subgraphUrlKey(name)`. */
  subgraphTimeouts: z.record(z.string(), whole(1, 300_000)).default({}),
  /**
   * How subgraph requests are authenticated, unless `subgraphAuth` says otherwise for a subgraph. Absent:
   * `DEFAULT_SUBGRAPH_AUTH_MODE` (`mint`), applied where the data sources are built, so that a configuration that never
   * mentions subgraph authentication parses to what it did before the setting existed.
   */
  subgraphAuthDefault: subgraphAuthMode.optional(),
  /** Per-subgraph authentication, by `subgraphUrlKey(name)`, over `subgraphAuthDefault`. */
  subgraphAuth: z.record(z.string(), subgraphAuthMode).optional(),
  /** Client request headers passed on to subgraphs (lower case); `x-request-id` always is. */
  forwardHeaders: z.array(z.string().min(1).transform((header) => header.toLowerCase())).default([]),
  auth: authSchema.prefault({}),
  /** The tokens the gateway mints for each subgraph request, in place of the client's. */
  subgraphTokens: z
    .strictObject({
      /** A private key (PEM PKCS#8 or JWK) shared by every replica; absent: a key generated at start, for one replica. */
      signingKeyFile: z.string().min(1).optional(),
      issuer: z.string().min(1).default('graphql-gateway'),
      ttlSec: whole(2, 300).default(10),
    })
    .prefault({}),
  /**
   * The access policy: a graphql-shield rule tree, the named rules `@policy` refers to, and shield's options. Absent,
   * nothing is allowed but what the supergraph's own directives allow: deny by default.
   */
  policy: policySchema.optional(),
  /** What happens to a query field the caller may not read: `remove` it (partial result) or `reject` the operation. */
  deniedQueryFields: z.enum(['remove', 'reject'], { error: 'must be remove (partial result) or reject (refuse the operation)' }).default('remove'),
  limits: limitsSchema.prefault({}),
  /** A budget of cost points per caller and window. */
  rateLimit: z
    .strictObject({
      points: limit(1_000_000_000, 100_000),
      windowSec: whole(1, 86_400).default(60),
      /** Shares the budget between replicas; in-memory per process when absent. */
      redisUrl: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379' }).optional(),
      /** Charged on top of the cost when the gateway had to plan the operation (its plan was not cached). */
      planMissPoints: whole(0, 1_000_000_000).default(1_000),
    })
    .prefault({}),
  /** Prefix of every key the gateway keeps in Redis (`<prefix>:cost:…`, `<prefix>:blocks:…`): one Redis may serve several deployments. */
  redisKeyPrefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be 1 to 64 letters, digits, _ . or -, e.g. gateway-staging' }).default('gateway'),
  /**
   * Suspicious clients noticed and shut out (src/clientBlocking): each request that does what well-behaved clients do
   * not adds its signal's weight to its client's score; a client whose score reaches `threshold` gets 429
   * CLIENT_BLOCKED for a cooldown. Shared by replicas through `rateLimit.redisUrl`.
   */
  clientBlocking: z
    .strictObject({
      /** Default: `enforce` in production, `off` in development. `audit` logs the blocks it would make. */
      mode: z.enum(['off', 'audit', 'enforce'], { error: 'must be off, audit or enforce' }).optional(),
      /**
       * Production refuses `off` and `audit` unless this says it is meant, and so settings that block nobody: every
       * weight 0, a threshold that takes more than 1000 of the heaviest signal, a window or a cooldown under 10 s.
       */
      offInProduction: z.boolean().default(false),
      threshold: whole(1, 1_000_000).default(100),
      /** A signal weighs fully for this long, then fades out over as long again. */
      decayWindowSec: whole(1, 86_400).default(60),
      /** Cooldown of a client's first, second, … block within `repeatMemorySec`; the last one repeats. */
      cooldownsSec: z.array(whole(1, 30 * 86_400)).min(1, { error: 'must list at least one cooldown' }).default([60, 600, 3_600]),
      repeatMemorySec: whole(1, 30 * 86_400).default(86_400),
      weights: z
        .strictObject(Object.fromEntries(SUSPICION_SIGNALS.map((signal) => [signal, whole(0, 1_000_000).default(DEFAULT_SIGNAL_WEIGHTS[signal])])) as Record<SuspicionSignal, z.ZodDefault<ReturnType<typeof whole>>>)
        .prefault({}),
      allowlist: z
        .strictObject({
          /** Addresses or CIDR ranges never scored or blocked (monitoring, internal callers). */
          cidrs: z.array(z.string().min(1)).default([]),
          /** Verified token subjects never scored or blocked. */
          subjects: z.array(z.string().min(1)).default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * The cache of public data (README, Caching public data): answers of subgraph fetches whose every field the
   * subgraphs hint PUBLIC, kept for their maxAge. `memory`: in each process; `redis`: shared by the replicas, with
   * each process's own as the fallback while Redis is away; `off`: public fetches are still shared, never kept.
   * Absent: `redis` when a Redis is configured (replicas that share one also share their cache and its evictions),
   * else `memory` (see loadConfig).
   */
  cache: z
    .strictObject({
      mode: z.enum(['off', 'memory', 'redis'], { error: 'must be off, memory or redis' }).optional(),
      /** Entries kept in a process, at most. */
      maxEntries: whole(1, 10_000_000).default(10_000),
      /** Approximate memory for them in a process. */
      maxMiB: whole(1, 65_536).default(64),
      /** The Redis for `redis` mode; absent: `rateLimit.redisUrl`. */
      redisUrl: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379' }).optional(),
      /** Prefix of the cache's Redis keys; absent: `<redisKeyPrefix>:cache`. */
      keyPrefix: z.string().min(1).optional(),
    })
    .prefault({}),
  /** Bounds on connections, so that a client cannot hold the gateway's sockets. */
  connections: z
    .strictObject({
      /** The whole request, headers and body, must arrive within this (then 408 and the connection is closed). */
      requestTimeoutMs: whole(1_000, 600_000).default(30_000),
      /** The request headers must arrive within this. */
      headersTimeoutMs: whole(1_000, 600_000).default(10_000),
      /** An idle keep-alive connection is closed after this. */
      keepAliveTimeoutMs: whole(1_000, 600_000).default(72_000),
      /** Open connections one client address may hold at once (not counted for trusted proxies). */
      maxPerClient: limit(1_000_000, 64),
    })
    .prefault({}),
  /** Approximate memory for cached query plans (the gateway plans each new document once, then reuses it). */
  planCacheMiB: whole(1, 16_384).default(30),
  /**
   * Apollo's automatic persisted queries: a client may register any document under its hash and later send only the
   * hash. Off by default: registration is open to anyone and saves only bandwidth.
   */
  automaticPersistedQueries: z.boolean().default(false),
  /**
   * The operations the frontend apps were built with (Apollo persisted query manifests). Listed documents are served by
   * id or by text in every mode; `enforce` refuses every other document before parsing, `audit` serves and reports it.
   */
  trustedDocuments: z
    .strictObject({
      mode: z.enum(['off', 'audit', 'enforce'], { error: 'must be off, audit or enforce' }).default('off'),
      /** Manifest files (`apollo-persisted-query-manifest`), relative to the working directory. */
      manifests: z.array(z.string().min(1)).default([]),
      /** Callers with one of these roles may send any document (Sandbox in staging). */
      bypassRoles: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  /** Proxies whose X-Forwarded-For is believed (addresses or CIDR ranges); the client's address is the peer's otherwise. */
  trustedProxies: z.array(z.string().min(1)).default([]),
  /** Origins a browser may call from (exact, e.g. https://app.example.com); none: same-origin only. */
  corsOrigins: z.array(z.string().regex(/^(\*|https?:\/\/[^/]+)$/, { error: 'entries must be origins like https://app.example.com, without a path' })).default([]),
  corsCredentials: z.boolean().default(false),
  csrfPrevention: z.boolean().default(true),
  /** Error codes a subgraph may send that reach the client with their message. */
  publicErrorCodes: z.array(z.string().min(1)).default(['BAD_USER_INPUT', 'NOT_FOUND']),
  /** Share identical subgraph queries in flight at the same moment, per caller identity. */
  deduplicateSubgraphRequests: z.boolean().default(true),
  /** Where Prometheus metrics are served: a port of their own (for an internal network), or beside /graphql in development. */
  metricsPort: whole(0, 65_535).optional(),
  metricsHost: z.string().min(1).optional(),
  /** Gateway processes sharing the port (node:cluster); 1: this process serves. */
  workers: whole(1, 64).default(1),
  /** OpenTelemetry traces over OTLP/HTTP, only when an endpoint is configured. */
  tracing: z
    .strictObject({
      endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) base URL of an OTLP/HTTP collector, e.g. http://otel-collector:4318' }),
      serviceName: z.string().min(1).default('graphql-gateway'),
    })
    .optional(),
  /** Default: on in development, off in production. */
  introspection: z.boolean().optional(),
  /** Apollo Sandbox at `/` (redirecting to `/graphql`). Default: on in development, off in production. */
  sandbox: z.boolean().optional(),
  /**
   * The local explorer (GraphiQL) at `/explorer`, served by the gateway with no other origin. Default: on in
   * development, off in production, where it may be turned on only with `trustedDocuments.bypassRoles` (only they
   * may introspect there).
   */
  explorer: z.boolean().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  /** Largest request body accepted; larger ones get 413. */
  bodyLimitBytes: whole(1_024, 100 * 1024 * 1024).default(1024 * 1024),
  /** On SIGTERM, how long in-flight requests may take to finish before their connections are closed. */
  shutdownTimeoutMs: whole(0, 600_000).default(10_000),
  /**
   * On SIGTERM, how long the gateway goes on serving, with `/ready` answering 503, before it closes its listener: the
   * time a load balancer needs to see the 503 and stop sending (its check interval times its fall count, plus one check's
   * timeout). 0 closes at once, which suits Kubernetes, whose pre-stop pause does the same before the signal.
   */
  shutdownDelayMs: whole(0, 600_000).default(0),
  /** Development mode binds only to loopback unless this is true. */
  devAllowNetwork: z.boolean().default(false),
});

/** What a config module may write: every field optional, with the defaults above. */
export type GatewayConfigInput = z.input<typeof configSchema>;
/** The parsed, defaulted settings before the decisions that depend on several of them (see `loadConfig`). */
export type ParsedConfig = z.output<typeof configSchema>;
export type LimitsConfig = ParsedConfig['limits'];
export type RateLimitConfig = ParsedConfig['rateLimit'];
export type ConnectionsConfig = ParsedConfig['connections'];
export type SubgraphTokenConfig = ParsedConfig['subgraphTokens'];
