import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeServices } from '@apollo/composition';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import demoConfig from '../../gateway.config.js';
import { createLogger } from '../../src/common/logger.js';
import { loadConfig, type GatewayConfig, type PolicyInput } from '../../src/config/index.js';
import { createGateway } from '../../src/gateway.js';
import type { GatewayTrust } from '../../subgraphs/shared/gatewayTrust.js';
import type { OperationCounter } from '../../subgraphs/shared/operationCounter.js';
import { createSubgraph, type SubgraphOptions } from '../../subgraphs/shared/subgraphServer.js';
import { cleanupSteps, devAuthorization, logCollector, postGraphQL, type GraphQLResponse } from '../harness.js';

/** A subgraph of a test graph: its name (as composition names it), its federation SDL and its resolvers. */
export type FixtureSubgraph = SubgraphOptions;

export interface QueryOptions {
  variables?: Record<string, unknown>;
  headers?: Record<string, string>;
  operationName?: string;
}

export interface FederationStack {
  /** The gateway's origin, e.g. http://127.0.0.1:41234 */
  url: string;
  /** POSTs a GraphQL request to the gateway's /graphql. */
  query(query: string, options?: QueryOptions): Promise<GraphQLResponse>;
  /** An `Authorization` header for a caller, signed by the development issuer. */
  as(caller: { subject: string; roles?: string[]; scopes?: string[] }): Promise<Record<string, string>>;
  /** Every log line the gateway wrote, parsed. */
  logs: Record<string, unknown>[];
  /** What reached each subgraph, by subgraph name. */
  counters: Readonly<Record<string, OperationCounter>>;
  /** The composed supergraph SDL the gateway serves. */
  supergraphSdl: string;
  stop(): Promise<void>;
}

export interface FederationStackOptions {
  subgraphs: readonly FixtureSubgraph[];
  policy: PolicyInput;
}

/**
 * Starts a test graph the way `startStack` starts the demo: each fixture subgraph in this process on port 0 (trusting
 * only the gateway's JWKS), composed in-process with @apollo/composition at the URLs they listen on, and the gateway
 * on port 0 with the given access policy over the demo's config module. A graph that does not compose fails with
 * every composition error. Whatever started is stopped by `stop()`, and also when starting fails half way.
 */
export async function startFederationStack(options: FederationStackOptions): Promise<FederationStack> {
  const { cleanups, run: cleanup } = cleanupSteps();
  try {
    const dir = await mkdtemp(join(tmpdir(), 'federation-test-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));

    // The subgraphs trust the gateway's JWKS, which exists once the gateway listens: resolve its keys lazily.
    let gatewayKeys: JWTVerifyGetKey | undefined;
    const trust: GatewayTrust = {
      issuer: 'graphql-gateway',
      keys: async (header, token) => {
        if (gatewayKeys === undefined) throw new Error('the gateway has not started');
        return gatewayKeys(header, token);
      },
    };

    const counters: Record<string, OperationCounter> = {};
    const services: { name: string; url: string; typeDefs: FixtureSubgraph['typeDefs'] }[] = [];
    for (const fixture of options.subgraphs) {
      const subgraph = createSubgraph(fixture);
      const running = await subgraph.listen({ host: '127.0.0.1', port: 0, trust });
      cleanups.push(() => running.close());
      counters[fixture.name] = subgraph.counter;
      services.push({ name: fixture.name, url: running.url, typeDefs: fixture.typeDefs });
    }

    const composed = composeServices(services);
    if (composed.errors !== undefined) {
      const problems = composed.errors.map((error) => `  - [${String(error.extensions['code'] ?? 'COMPOSITION')}] ${error.message}`);
      throw new Error(`the fixture subgraphs do not compose:\n${problems.join('\n')}`);
    }
    const supergraphPath = join(dir, 'supergraph.graphql');
    await writeFile(supergraphPath, composed.supergraphSdl);

    const env: Record<string, string> = {
      NODE_ENV: 'test',
      PORT: '0',
      LOG_LEVEL: 'info',
      SUPERGRAPH_PATH: supergraphPath,
      DEV_KEY_FILE: join(dir, 'dev-issuer-key.json'),
    };
    const logs: Record<string, unknown>[] = [];
    // The demo's settings but its policy and its trusted documents (the storefront's operations are the demo graph's).
    const { trustedDocuments: _demoDocuments, ...demoSettings } = demoConfig;
    const config: GatewayConfig = loadConfig(env, { testMode: true, module: { ...demoSettings, policy: options.policy } });
    const logger = createLogger({ level: config.logLevel, destination: logCollector(logs) });
    const gateway = createGateway(config, { logger });
    cleanups.push(() => gateway.stop());
    const { url } = await gateway.start();
    gatewayKeys = createRemoteJWKSet(new URL('/.well-known/jwks.json', url), { cooldownDuration: 1_000 });

    return {
      url,
      query: (query, requestOptions = {}) => postGraphQL(url, query, requestOptions),
      as: (caller) => devAuthorization(config, caller),
      logs,
      counters,
      supergraphSdl: composed.supergraphSdl,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
