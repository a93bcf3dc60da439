import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type GatewayConfig } from '../src/config/index.js';
import { createGateway, type Gateway } from '../src/gateway.js';
import type { PolicyInput } from '../src/config/index.js';
import demoConfig from '../gateway.config.js';
import { createLogger } from '../src/common/logger.js';
import { loadOrCreateDevKey, signDevToken } from '../src/auth/devIssuer.js';
import type { SupergraphReload } from '../src/supergraph/fileSupergraphManager.js';
import { createAccountsSubgraph } from '../subgraphs/accounts/subgraph.js';
import { createInventorySubgraph } from '../subgraphs/inventory/subgraph.js';
import { createProductsSubgraph } from '../subgraphs/products/subgraph.js';
import { createReviewsSubgraph } from '../subgraphs/reviews/subgraph.js';
import type { RunningSubgraph, Subgraph } from '../subgraphs/shared/subgraphServer.js';
import type { GatewayTrust } from '../subgraphs/shared/gatewayTrust.js';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';

export const SUBGRAPH_NAMES = ['accounts', 'products', 'inventory', 'reviews'] as const;
export type SubgraphName = (typeof SUBGRAPH_NAMES)[number];

const factories: Record<SubgraphName, () => Subgraph> = {
  accounts: createAccountsSubgraph,
  products: createProductsSubgraph,
  inventory: createInventorySubgraph,
  reviews: createReviewsSubgraph,
};

export const COMMITTED_SUPERGRAPH = new URL('../schema/supergraph.graphql', import.meta.url);

export interface GraphQLResponse {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[] };
}

export interface Stack {
  /** The gateway's origin, e.g. http://127.0.0.1:41234 */
  url: string;
  subgraphs: Record<SubgraphName, Subgraph & { url: string; running: RunningSubgraph | undefined }>;
  /** The supergraph file this gateway watches (a private copy, so a test may rewrite it). */
  supergraphPath: string;
  /** Every log line the gateway wrote, parsed. */
  logs: Record<string, unknown>[];
  reloads: SupergraphReload[];
  /** POSTs a GraphQL request to /graphql. */
  query(query: string, options?: { variables?: Record<string, unknown>; headers?: Record<string, string>; operationName?: string }): Promise<GraphQLResponse>;
  /**
   * An `Authorization` header for a caller, signed by the development issuer (stacks without a configured key
   * source only).
   */
  as(caller: { subject: string; roles?: string[]; scopes?: string[] }): Promise<Record<string, string>>;
  /** Stops one subgraph's HTTP server, to see how the gateway copes. */
  stopSubgraph(name: SubgraphName): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Environment for the gateway's config, on top of a test default (development mode, port 0, quiet). */
  env?: Record<string, string>;
  /** An access policy instead of the demo's (gateway.config.ts). */
  policy?: PolicyInput;
  /** Puts something (a slow proxy, say) between the gateway and a subgraph: given its URL, returns the one to call. */
  through?: Partial<Record<SubgraphName, (url: string) => Promise<{ url: string; close(): void }>>>;
  /**
   * Whom a subgraph trusts instead of the gateway: the identity provider, for a subgraph the gateway sends the
   * client's token to (`SUBGRAPH_<NAME>_AUTH=forward`).
   */
  trust?: Partial<Record<SubgraphName, GatewayTrust>>;
}

/** Steps that undo what a start did, run last first, each whatever the others did: for `stop()` and a failed start. */
export function cleanupSteps(): { cleanups: (() => Promise<void>)[]; run: () => Promise<void> } {
  const cleanups: (() => Promise<void>)[] = [];
  return {
    cleanups,
    run: async () => {
      for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
    },
  };
}

/**
 * Starts the four demo subgraphs and the gateway on port 0, in this process, over real HTTP. The gateway serves a
 * private copy of the committed supergraph with each subgraph's URL overridden to where it listens. Whatever started
 * is stopped by `stop()`, and also when starting fails half way.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const { cleanups, run: cleanup } = cleanupSteps();
  try {
    const dir = await mkdtemp(join(tmpdir(), 'gateway-test-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const supergraphPath = join(dir, 'supergraph.graphql');
    await writeFile(supergraphPath, await readFile(COMMITTED_SUPERGRAPH, 'utf8'));

    // The subgraphs trust the gateway's JWKS, which exists once the gateway listens: resolve its keys lazily.
    let gatewayKeys: JWTVerifyGetKey | undefined;
    const trust: GatewayTrust = {
      issuer: 'graphql-gateway',
      keys: async (header, token) => {
        if (gatewayKeys === undefined) throw new Error('the gateway has not started');
        return gatewayKeys(header, token);
      },
    };

    const subgraphs = {} as Stack['subgraphs'];
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      PORT: '0',
      LOG_LEVEL: 'info',
      SUPERGRAPH_PATH: supergraphPath,
      DEV_KEY_FILE: join(dir, 'dev-issuer-key.json'),
      // The test itself is never taken for an attacker (production blocks suspicious clients by default, and tests send
      // many bad requests); tests of blocking send their clients' addresses through TRUSTED_PROXIES.
      CLIENT_BLOCKING_ALLOW_CIDRS: '127.0.0.1,::1',
      // Tests read the subgraphs' counters as proof of what reached them, which a cache in between would change: the
      // cache's own tests turn it on (CACHE_MODE=memory). Public fetches are still shared between callers.
      CACHE_MODE: 'off',
    };
    for (const name of SUBGRAPH_NAMES) {
      const subgraph = factories[name]();
      const running = await subgraph.listen({ host: '127.0.0.1', port: 0, trust: options.trust?.[name] ?? trust });
      const entry = Object.assign(subgraph, { url: running.url, running: running as RunningSubgraph | undefined });
      cleanups.push(async () => {
        await entry.running?.close();
      });
      subgraphs[name] = entry;
      const through = options.through?.[name];
      if (through === undefined) {
        env[`SUBGRAPH_${name.toUpperCase()}_URL`] = running.url;
      } else {
        const between = await through(running.url);
        cleanups.push(async () => between.close());
        env[`SUBGRAPH_${name.toUpperCase()}_URL`] = between.url;
      }
    }

    const logs: Record<string, unknown>[] = [];
    const reloads: SupergraphReload[] = [];
    const config: GatewayConfig = loadConfig({ ...env, ...options.env }, { testMode: true, module: options.policy ? { ...demoConfig, policy: options.policy } : demoConfig });
    const logger = createLogger({ level: config.logLevel, destination: logCollector(logs) });
    const gateway: Gateway = createGateway(config, { logger, onSupergraphReload: (reload) => reloads.push(reload) });
    cleanups.push(() => gateway.stop());
    const { url } = await gateway.start();
    gatewayKeys = createRemoteJWKSet(new URL('/.well-known/jwks.json', url), { cooldownDuration: 1_000 });

    return {
      url,
      subgraphs,
      supergraphPath,
      logs,
      reloads,
      query: (query, requestOptions = {}) => postGraphQL(url, query, requestOptions),
      as: (caller) => devAuthorization(config, caller),
      async stopSubgraph(name) {
        await subgraphs[name].running?.close();
        subgraphs[name].running = undefined;
      },
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

export async function postGraphQL(
  origin: string,
  query: string,
  options: { variables?: Record<string, unknown>; headers?: Record<string, string>; operationName?: string } = {},
): Promise<GraphQLResponse> {
  const response = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...options.headers },
    body: JSON.stringify({ query, variables: options.variables, operationName: options.operationName }),
  });
  const text = await response.text();
  let body: GraphQLResponse['body'];
  try {
    body = JSON.parse(text) as GraphQLResponse['body'];
  } catch {
    throw new Error(`Not JSON (status ${response.status}): ${text.slice(0, 200)}`);
  }
  return { status: response.status, headers: response.headers, body };
}

/**
 * An `Authorization` header for a caller, signed by the development issuer a test gateway trusts (only a gateway
 * without a configured key source has one).
 */
export async function devAuthorization(config: GatewayConfig, caller: { subject: string; roles?: string[]; scopes?: string[] }): Promise<Record<string, string>> {
  if (config.auth.keySource.kind !== 'dev') throw new Error('as() signs development tokens: this stack has a real key source');
  const token = await signDevToken(await loadOrCreateDevKey(config.auth.keySource.path), { subject: caller.subject, roles: caller.roles ?? [], scopes: caller.scopes ?? [], ttlSec: 300 });
  return { authorization: `Bearer ${token}` };
}

/** A log destination that parses each line the gateway writes into `into`. */
export function logCollector(into: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') into.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
}

/** Polls `check` until it returns true or `timeoutMs` passes; for waiting on file watchers, never for timing. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waitFor: condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * The environment of a production gateway in tests: production needs a key source, so this one gets a file with a
 * freshly generated public key (tests that need tokens use a TestIssuer instead).
 */
export async function productionEnv(): Promise<Record<string, string>> {
  const { generateKeyPair, exportJWK } = await import('jose');
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  const dir = await mkdtemp(join(tmpdir(), 'production-keys-'));
  const file = join(dir, 'keys.json');
  await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'production-test' }] }));
  return { NODE_ENV: 'production', JWT_PUBLIC_KEYS: file, JWT_ISSUER: 'https://issuer.test/', JWT_AUDIENCE: 'https://api.test' };
}
