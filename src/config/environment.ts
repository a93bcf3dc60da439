import type { z } from 'zod';
import { authSchema, configSchema, jwksSourceSchema, limitsSchema } from './schema.js';

/** What the environment says, as a partial config in the config module's shape, and what it got wrong. */
export interface EnvironmentOverlay {
  overlay: Record<string, unknown>;
  /** Each problem names its variable, what is expected and what it got. */
  problems: string[];
  /** The variable that set each path (`limits.maxDepth` → `MAX_DEPTH`), to name it in later problems. */
  variables: ReadonlyMap<string, string>;
  /** NODE_ENV as given (`test` is the harness's, see loadConfig). */
  nodeEnv: string | undefined;
}

type Parsed = { ok: true; value: unknown } | { ok: false; message: string };
type Reader = (raw: string) => Parsed;

const ok = (value: unknown): Parsed => ({ ok: true, value });
const fail = (message: string): Parsed => ({ ok: false, message });

// Digits only: Number() alone would take " " as 0 and "0x10" as 16.
const integer: Reader = (raw) => (/^\d+$/.test(raw.trim()) ? ok(Number(raw.trim())) : fail('must be a whole number'));
/** A limit: 0 is how the environment says `off`. */
const limitNumber: Reader = (raw) => {
  const parsed = integer(raw);
  return parsed.ok && parsed.value === 0 ? ok('off') : parsed;
};
const flag: Reader = (raw) => (['true', '1'].includes(raw) ? ok(true) : ['false', '0'].includes(raw) ? ok(false) : fail('must be true or false'));
const text: Reader = (raw) => ok(raw);
const list: Reader = (raw) => ok(raw.split(/[\s,]+/).filter((entry) => entry !== ''));
const nonEmptyList: Reader = (raw) => {
  const entries = raw.split(/[\s,]+/).filter((entry) => entry !== '');
  return entries.length > 0 ? ok(entries) : fail('must list at least one value');
};

const integerList: Reader = (raw) => {
  const entries = raw.split(/[\s,]+/).filter((entry) => entry !== '');
  return entries.length > 0 && entries.every((entry) => /^\d+$/.test(entry)) ? ok(entries.map(Number)) : fail('must list whole numbers, e.g. 60,600,3600');
};

interface Variable {
  path: readonly string[];
  read: Reader;
  /** The config's own schema for the value: the single source of its bounds and of the message. */
  schema?: z.ZodType;
  /** Builds what is placed at `path` from the value (a key source, say). */
  place?: (value: unknown) => unknown;
}

const config = configSchema.shape;
const auth = authSchema.shape;
const limits = limitsSchema.shape;
const jwks = jwksSourceSchema.shape;
const rateLimit = config.rateLimit.unwrap().shape;
const connections = config.connections.unwrap().shape;
const cache = config.cache.unwrap().shape;
const subgraphTokens = config.subgraphTokens.unwrap().shape;
const tracing = config.tracing.unwrap().shape;
const clientBlocking = config.clientBlocking.unwrap().shape;

/** Every variable the gateway reads, and where it goes in the config. */
const VARIABLES: Readonly<Record<string, Variable>> = {
  HOST: { path: ['host'], read: text, schema: config.host },
  PORT: { path: ['port'], read: integer, schema: config.port },
  SUPERGRAPH_PATH: { path: ['supergraphPath'], read: text },
  SUBGRAPH_TIMEOUT_MS: { path: ['subgraphTimeoutMs'], read: integer, schema: config.subgraphTimeoutMs },
  FORWARD_HEADERS: { path: ['forwardHeaders'], read: list },
  SUBGRAPH_AUTH: { path: ['subgraphAuthDefault'], read: text, schema: config.subgraphAuthDefault },
  JWT_JWKS_URL: { path: ['auth', 'keySource'], read: text, schema: jwks.url, place: (url) => ({ kind: 'jwks', url }) },
  JWT_PUBLIC_KEYS: { path: ['auth', 'keySource'], read: text, place: (path) => ({ kind: 'file', path }) },
  JWT_JWKS_COOLDOWN_MS: { path: ['auth', 'keySource', 'cooldownMs'], read: integer, schema: jwks.cooldownMs },
  JWT_JWKS_REFRESH_MS: { path: ['auth', 'keySource', 'refreshMs'], read: integer, schema: jwks.refreshMs },
  JWT_JWKS_TIMEOUT_MS: { path: ['auth', 'keySource', 'timeoutMs'], read: integer, schema: jwks.timeoutMs },
  JWT_ISSUER: { path: ['auth', 'issuer'], read: text },
  JWT_AUDIENCE: { path: ['auth', 'audience'], read: list },
  JWT_ALGORITHMS: { path: ['auth', 'algorithms'], read: nonEmptyList, schema: auth.algorithms },
  JWT_CLOCK_TOLERANCE_SEC: { path: ['auth', 'clockToleranceSec'], read: integer, schema: auth.clockToleranceSec },
  JWT_ROLES_CLAIM: { path: ['auth', 'rolesClaim'], read: text },
  JWT_SCOPES_CLAIMS: { path: ['auth', 'scopesClaims'], read: nonEmptyList },
  JWT_TOKEN_CACHE_SIZE: { path: ['auth', 'tokenCacheSize'], read: integer, schema: auth.tokenCacheSize },
  JWT_MAX_LIFETIME_SEC: { path: ['auth', 'maxLifetimeSec'], read: integer, schema: auth.maxLifetimeSec },
  AUTH_REQUIRED: { path: ['auth', 'required'], read: flag },
  DEV_KEY_FILE: { path: ['auth', 'devKeyFile'], read: text },
  DEV_ALLOW_NETWORK: { path: ['devAllowNetwork'], read: flag },
  GATEWAY_SIGNING_KEY_FILE: { path: ['subgraphTokens', 'signingKeyFile'], read: text },
  GATEWAY_TOKEN_ISSUER: { path: ['subgraphTokens', 'issuer'], read: text },
  GATEWAY_TOKEN_TTL_SEC: { path: ['subgraphTokens', 'ttlSec'], read: integer, schema: subgraphTokens.ttlSec },
  AUTHZ_DENIED_QUERY_FIELDS: { path: ['deniedQueryFields'], read: text, schema: config.deniedQueryFields },
  MAX_DEPTH: { path: ['limits', 'maxDepth'], read: limitNumber, schema: limits.maxDepth },
  MAX_ALIASES: { path: ['limits', 'maxAliases'], read: limitNumber, schema: limits.maxAliases },
  MAX_ROOT_FIELDS: { path: ['limits', 'maxRootFields'], read: limitNumber, schema: limits.maxRootFields },
  MAX_DIRECTIVES: { path: ['limits', 'maxDirectives'], read: limitNumber, schema: limits.maxDirectives },
  MAX_TOKENS: { path: ['limits', 'maxTokens'], read: limitNumber, schema: limits.maxTokens },
  MAX_QUERY_LENGTH: { path: ['limits', 'maxQueryLength'], read: limitNumber, schema: limits.maxQueryLength },
  MAX_EXPANDED_SELECTIONS: { path: ['limits', 'maxExpandedSelections'], read: limitNumber, schema: limits.maxExpandedSelections },
  MAX_COST: { path: ['limits', 'maxCost'], read: limitNumber, schema: limits.maxCost },
  MAX_SELECTION_PAIRS: { path: ['limits', 'maxSelectionPairs'], read: integer, schema: limits.maxSelectionPairs },
  MAX_ERRORS: { path: ['limits', 'maxErrors'], read: integer, schema: limits.maxErrors },
  DEFAULT_LIST_SIZE: { path: ['limits', 'defaultListSize'], read: integer, schema: limits.defaultListSize },
  FIELD_CAPS: { path: ['limits', 'fieldCaps'], read: fieldCaps },
  RATE_LIMIT_POINTS: { path: ['rateLimit', 'points'], read: limitNumber, schema: rateLimit.points },
  RATE_LIMIT_WINDOW_SEC: { path: ['rateLimit', 'windowSec'], read: integer, schema: rateLimit.windowSec },
  REDIS_URL: { path: ['rateLimit', 'redisUrl'], read: text, schema: rateLimit.redisUrl },
  PLAN_MISS_POINTS: { path: ['rateLimit', 'planMissPoints'], read: integer, schema: rateLimit.planMissPoints },
  CACHE_MODE: { path: ['cache', 'mode'], read: text, schema: cache.mode },
  CACHE_MAX_ENTRIES: { path: ['cache', 'maxEntries'], read: integer, schema: cache.maxEntries },
  CACHE_MAX_MIB: { path: ['cache', 'maxMiB'], read: integer, schema: cache.maxMiB },
  CACHE_REDIS_URL: { path: ['cache', 'redisUrl'], read: text, schema: cache.redisUrl },
  CACHE_REDIS_KEY_PREFIX: { path: ['cache', 'keyPrefix'], read: text },
  PLAN_CACHE_MIB: { path: ['planCacheMiB'], read: integer, schema: config.planCacheMiB },
  AUTOMATIC_PERSISTED_QUERIES: { path: ['automaticPersistedQueries'], read: flag },
  TRUSTED_DOCUMENTS: { path: ['trustedDocuments', 'mode'], read: text },
  TRUSTED_DOCUMENTS_MANIFESTS: { path: ['trustedDocuments', 'manifests'], read: list },
  TRUSTED_DOCUMENTS_BYPASS_ROLES: { path: ['trustedDocuments', 'bypassRoles'], read: list },
  REDIS_KEY_PREFIX: { path: ['redisKeyPrefix'], read: text, schema: config.redisKeyPrefix },
  CLIENT_BLOCKING: { path: ['clientBlocking', 'mode'], read: text, schema: clientBlocking.mode },
  CLIENT_BLOCKING_OFF_IN_PRODUCTION: { path: ['clientBlocking', 'offInProduction'], read: flag },
  CLIENT_BLOCKING_THRESHOLD: { path: ['clientBlocking', 'threshold'], read: integer, schema: clientBlocking.threshold },
  CLIENT_BLOCKING_WINDOW_SEC: { path: ['clientBlocking', 'decayWindowSec'], read: integer, schema: clientBlocking.decayWindowSec },
  CLIENT_BLOCKING_COOLDOWNS_SEC: { path: ['clientBlocking', 'cooldownsSec'], read: integerList, schema: clientBlocking.cooldownsSec },
  CLIENT_BLOCKING_ALLOW_CIDRS: { path: ['clientBlocking', 'allowlist', 'cidrs'], read: list },
  CLIENT_BLOCKING_ALLOW_SUBJECTS: { path: ['clientBlocking', 'allowlist', 'subjects'], read: list },
  REQUEST_TIMEOUT_MS: { path: ['connections', 'requestTimeoutMs'], read: integer, schema: connections.requestTimeoutMs },
  HEADERS_TIMEOUT_MS: { path: ['connections', 'headersTimeoutMs'], read: integer, schema: connections.headersTimeoutMs },
  KEEP_ALIVE_TIMEOUT_MS: { path: ['connections', 'keepAliveTimeoutMs'], read: integer, schema: connections.keepAliveTimeoutMs },
  MAX_CONNECTIONS_PER_CLIENT: { path: ['connections', 'maxPerClient'], read: limitNumber, schema: connections.maxPerClient },
  TRUSTED_PROXIES: { path: ['trustedProxies'], read: list },
  CORS_ORIGINS: { path: ['corsOrigins'], read: list, schema: config.corsOrigins },
  CORS_CREDENTIALS: { path: ['corsCredentials'], read: flag },
  CSRF_PREVENTION: { path: ['csrfPrevention'], read: flag },
  DEDUPLICATE_SUBGRAPH_REQUESTS: { path: ['deduplicateSubgraphRequests'], read: flag },
  METRICS_PORT: { path: ['metricsPort'], read: integer, schema: config.metricsPort },
  METRICS_HOST: { path: ['metricsHost'], read: text },
  GATEWAY_WORKERS: { path: ['workers'], read: integer, schema: config.workers },
  OTEL_EXPORTER_OTLP_ENDPOINT: { path: ['tracing', 'endpoint'], read: text, schema: tracing.endpoint },
  OTEL_SERVICE_NAME: { path: ['tracing', 'serviceName'], read: text },
  PUBLIC_ERROR_CODES: { path: ['publicErrorCodes'], read: list },
  INTROSPECTION: { path: ['introspection'], read: flag },
  SANDBOX: { path: ['sandbox'], read: flag },
  EXPLORER: { path: ['explorer'], read: flag },
  LOG_LEVEL: { path: ['logLevel'], read: text, schema: config.logLevel },
  BODY_LIMIT_BYTES: { path: ['bodyLimitBytes'], read: integer, schema: config.bodyLimitBytes },
  SHUTDOWN_TIMEOUT_MS: { path: ['shutdownTimeoutMs'], read: integer, schema: config.shutdownTimeoutMs },
  SHUTDOWN_DELAY_MS: { path: ['shutdownDelayMs'], read: integer, schema: config.shutdownDelayMs },
};

const SUBGRAPH_URL_VARIABLE = /^SUBGRAPH_([A-Z0-9_]+)_URL$/;
const SUBGRAPH_TIMEOUT_VARIABLE = /^SUBGRAPH_([A-Z0-9_]+)_TIMEOUT_MS$/;
const SUBGRAPH_AUTH_VARIABLE = /^SUBGRAPH_([A-Z0-9_]+)_AUTH$/;
const NODE_ENVS = ['development', 'production', 'test'];

/**
 * Reads the environment into the config module's shape. An empty variable counts as unset (compose files write
 * `${VAR:-}`). Each value is checked against the config's own schema for it, so the bounds live in one place, and a
 * bad one is reported with its variable's name and left out.
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>>): EnvironmentOverlay {
  const given = Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '');
  const overlay: Record<string, unknown> = {};
  const problems: string[] = [];
  const variables = new Map<string, string>();
  const set = (variable: string, path: readonly string[], value: unknown) => {
    setPath(overlay, path, value);
    variables.set(path.join('.'), variable);
  };
  const byName = Object.fromEntries(given);

  let nodeEnv: string | undefined;
  if (byName['NODE_ENV'] !== undefined) {
    nodeEnv = byName['NODE_ENV'];
    if (!NODE_ENVS.includes(nodeEnv)) problems.push(`NODE_ENV must be development, production or test (got ${JSON.stringify(nodeEnv)})`);
    else set('NODE_ENV', ['mode'], nodeEnv === 'production' ? 'production' : 'development');
  }
  if (byName['JWT_JWKS_URL'] !== undefined && byName['JWT_PUBLIC_KEYS'] !== undefined) problems.push('JWT_JWKS_URL and JWT_PUBLIC_KEYS are both set: choose one key source');

  for (const [variable, raw] of given) {
    const spec = VARIABLES[variable];
    const subgraphUrl = SUBGRAPH_URL_VARIABLE.exec(variable)?.[1];
    const subgraphTimeout = SUBGRAPH_TIMEOUT_VARIABLE.exec(variable)?.[1];
    const subgraphAuth = SUBGRAPH_AUTH_VARIABLE.exec(variable)?.[1];
    const resolved: Variable | undefined =
      spec ??
      (subgraphUrl !== undefined
        ? { path: ['subgraphUrls', subgraphUrl.toLowerCase()], read: text, schema: config.subgraphUrls.unwrap().valueType }
        : subgraphTimeout !== undefined
          ? { path: ['subgraphTimeouts', subgraphTimeout.toLowerCase()], read: integer, schema: config.subgraphTimeouts.unwrap().valueType }
          : subgraphAuth !== undefined
            ? { path: ['subgraphAuth', subgraphAuth.toLowerCase()], read: text, schema: config.subgraphAuth.unwrap().valueType }
            : undefined);
    if (resolved === undefined) continue;
    const parsed = resolved.read(raw);
    if (!parsed.ok) {
      problems.push(`${variable} ${parsed.message} (got ${JSON.stringify(redacted(raw))})`);
      continue;
    }
    if (resolved.schema !== undefined) {
      const checked = resolved.schema.safeParse(parsed.value);
      if (!checked.success) {
        problems.push(`${variable} ${checked.error.issues[0]?.message ?? 'is not valid'} (got ${JSON.stringify(redacted(raw))})`);
        continue;
      }
    }
    set(variable, resolved.path, resolved.place === undefined ? parsed.value : resolved.place(parsed.value));
  }
  return { overlay, problems, variables, nodeEnv };
}

/** A value as a problem may quote it: the credentials of a URL (`redis://:secret@host`) left out. */
function redacted(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/*)[^@/\s]*@/i, '$1***@');
}

/** `FIELD_CAPS=Mutation.createReview=1,Mutation.updatePrice=5`. */
function fieldCaps(raw: string): Parsed {
  const caps: Record<string, number> = {};
  for (const entry of raw.split(/[\s,]+/).filter((item) => item !== '')) {
    const match = /^([A-Za-z_]\w*\.[A-Za-z_]\w*)=(\d+)$/.exec(entry);
    if (!match?.[1] || !match[2]) return fail(`entries must look like Type.field=N, e.g. Mutation.createReview=1`);
    caps[match[1]] = Number(match[2]);
  }
  return ok(caps);
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1] as string;
  const existing = node[last];
  // A value that is itself an object (a key source) joins what is already there (its timings), not replaces it.
  node[last] = isPlainObject(existing) && isPlainObject(value) ? { ...existing, ...value } : value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}
