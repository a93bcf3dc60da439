import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer, type HeaderMap } from '@apollo/server';
import { createAuthenticate } from './auth/authenticate.js';
import { authorizedGateway } from './authz/authorizedGateway.js';
import { ANONYMOUS } from './auth/principal.js';
import { openClientKeys, type ClientKeys } from './auth/clientKeys.js';
import { loadOrCreateDevKey } from './auth/devIssuer.js';
import { loadOrGenerateSigningKey } from './upstream/gatewaySigningKey.js';
import { createSubgraphTokens } from './upstream/subgraphTokens.js';
import { createTokenVerifier } from './auth/tokenVerifier.js';
import { subgraphUrlKey, subgraphUrlVariable, type GatewayConfig } from './config/index.js';
import { subgraphAuthVariable } from './config/loadConfig.js';
import { DEFAULT_SUBGRAPH_AUTH_MODE } from './config/schema.js';
import type { GatewayContext } from './context.js';
import type { GraphQLSchema } from 'graphql';
import Fastify, { type FastifyRequest } from 'fastify';
import { createFormatError } from './errors.js';
import { AggregatorRegistry } from 'prom-client';
import { createMetrics } from './metrics/metrics.js';
import { startTracing } from './telemetry/tracing.js';
import { validationRules } from './limits/validationRules.js';
import { createCostRateLimiter } from './rateLimit/costRateLimiter.js';
import { createClientGuard, type ClientGuard } from './clientBlocking/clientGuard.js';
import { signalOfRefusedRequest } from './clientBlocking/signals.js';
import { connectRedis } from './common/redis.js';
import { admittedHandler } from './rateLimit/admission.js';
import { createRateBudget, rateLimitKey } from './rateLimit/rateBudget.js';
import { createRequestAnalyzer } from './analysis/requestAnalyzer.js';
import { graphqlHandler, type GraphQLHandler } from './common/graphqlHandler.js';
import { createHttpServer } from './http/httpServer.js';
import { explorerAssetDir, loadExplorerAssets } from './explorer/explorerAssets.js';
import { documentGate } from './http/documentGate.js';
import { requestFingerprint } from './http/requestFingerprint.js';
import { csrfGate } from './http/csrfGate.js';
import { createTrustedDocumentList } from './trustedDocuments/trustedDocumentList.js';
import { trustedDocumentGate } from './trustedDocuments/trustedDocumentGate.js';
import { validateTrustedDocuments } from './trustedDocuments/validateDocuments.js';
import { createDocumentStore } from './limits/documentStore.js';
import { lifecycleLogger, type Logger } from './common/logger.js';
import { gatewayPlugins } from './plugins/index.js';
import { fileSupergraphManager, type SupergraphReload } from './supergraph/fileSupergraphManager.js';
import { supergraphFacts, type SupergraphFacts } from './supergraph/supergraphFacts.js';
import { subgraphDataSources } from './upstream/subgraphDataSource.js';
import { createPublicData } from './cache/publicData.js';
import { cacheStoreFor } from './cache/cacheStoreFor.js';
import { cacheControlled } from './cache/cacheControl.js';

/** Parsed and validated documents kept, as Apollo Server's default; measured honestly (see createDocumentStore). */
const DOCUMENT_CACHE_MIB = 30;

export interface GatewayDependencies {
  logger: Logger;
  /** Told of every change of the supergraph file, applied or rejected. */
  onSupergraphReload?: (reload: SupergraphReload) => void;
  /** One of several cluster workers: the primary serves the metrics port, aggregated over the workers. */
  clusterWorker?: boolean;
  /**
   * `keepalive` (default): undici keep-alive pools (src/upstream/subgraphTransport.ts). `apollo-default`: RemoteGraphQLDataSource's own fetcher,
   * which `npm run bench` starts to measure the difference; no deployment needs it.
   */
  subgraphFetcher?: 'keepalive' | 'apollo-default';
}

export interface Gateway {
  /**
   * Loads its keys, listens, then loads the supergraph; resolves once `/graphql` serves, with the URL of the HTTP
   * server. Throws (having released everything) when any of that fails.
   */
  start(): Promise<{ url: string }>;
  /**
   * Turns `/ready` to 503 and serves on for `shutdownDelayMs`, then stops taking requests, lets those in flight finish
   * (up to `shutdownTimeoutMs`), and releases everything.
   */
  stop(): Promise<void>;
}

/** The gateway: an Apollo Server whose schema and execution come from an Apollo Gateway over the supergraph file. */
export function createGateway(config: GatewayConfig, dependencies: GatewayDependencies): Gateway {
  const { logger } = dependencies;
  const releases: (() => Promise<void> | void)[] = [];
  let closeHttp: (() => Promise<void>) | undefined;
  let stopping: Promise<void> | undefined;

  const release = async () => {
    // The HTTP server drains first: requests in flight still need Apollo, the keys and the subgraph pools.
    await closeHttp?.();
    closeHttp = undefined;
    for (const step of releases.splice(0).reverse()) await step();
  };

  // From the first moment of stopping, /ready says 503 and every answer closes its connection, but a load balancer
  // learns that only at its next health check: until then it still sends new connections here, which a closed
  // listener would refuse. Serving them for SHUTDOWN_DELAY_MS first is what makes a replica leave without a failure.
  const drainDelay = async () => {
    if (closeHttp === undefined || config.shutdownDelayMs === 0) return;
    lifecycleLogger(logger).info({ delayMs: config.shutdownDelayMs }, 'draining: /ready answers 503; the listener closes after the delay');
    await delay(config.shutdownDelayMs);
  };

  const start = async (): Promise<{ url: string }> => {
    // @apollo/gateway starts an OpenTelemetry exporter at construction unless this is set: it probes cloud metadata
    // addresses and sends metrics to Apollo. A gateway in front of private services must not phone home, so it is
    // off for every gateway this process creates, whatever the environment says.
    process.env['APOLLO_TELEMETRY_DISABLED'] = 'true';

    if (config.tracing !== undefined) {
      const tracing = await startTracing({ ...config.tracing, logger });
      releases.push(() => tracing.shutdown());
    }
    const signingKey = await loadOrGenerateSigningKey(config.subgraphTokens.signingKeyFile);
    if (config.subgraphTokens.signingKeyFile === undefined && config.mode === 'production') {
      logger.warn('GATEWAY_SIGNING_KEY_FILE is not set: this replica signs subgraph tokens with a key of its own; replicas behind one JWKS URL must share a key file');
    }
    const clientKeys: ClientKeys = await openClientKeys(config.auth.keySource, logger);
    releases.push(() => clientKeys.close());
    const devIssuerJwks = config.auth.keySource.kind === 'dev' ? { keys: [(await loadOrCreateDevKey(config.auth.keySource.path)).publicJwk] } : undefined;

    const metrics = createMetrics();
    if (dependencies.clusterWorker) {
      // prom-client answers the primary's requests for metrics only once an AggregatorRegistry exists in the worker:
      // set up first, so that a starting worker answers too.
      new AggregatorRegistry();
      AggregatorRegistry.setRegistries([metrics.registry]);
    }
    const publicData = createPublicData({
      store: cacheStoreFor(config.cache, { logger, onEvicted: (reason, count) => metrics.cacheEvictions.inc({ reason }, count) }),
      keyPrefix: config.cache.mode === 'redis' ? config.cache.keyPrefix : `${config.redisKeyPrefix}:cache`,
      onLookup: (result) => metrics.cacheRequests.inc({ result }),
    });
    releases.push(() => publicData.close());
    const dataSources = subgraphDataSources({
      publicData,
      urls: config.subgraphUrls,
      timeoutMs: config.subgraphTimeoutMs,
      timeouts: config.subgraphTimeouts,
      deduplicate: config.deduplicateSubgraphRequests,
      fetcher: dependencies.subgraphFetcher ?? 'keepalive',
      onDeduplicated: () => metrics.deduplicated.inc(),
      onFetched: (subgraph, seconds, failed) => {
        metrics.subgraphDuration.observe({ subgraph }, seconds);
        if (failed) metrics.subgraphErrors.inc({ subgraph });
      },
      tokens: createSubgraphTokens(signingKey, config.subgraphTokens),
      authMode: config.subgraphAuthDefault ?? DEFAULT_SUBGRAPH_AUTH_MODE,
      authModes: config.subgraphAuth ?? {},
    });
    releases.push(() => dataSources.close());
    const rateLimiter =
      config.rateLimit.points !== 'off'
        ? createCostRateLimiter({ points: config.rateLimit.points, windowSec: config.rateLimit.windowSec, redisUrl: config.rateLimit.redisUrl, keyPrefix: `${config.redisKeyPrefix}:cost`, logger })
        : undefined;
    if (rateLimiter !== undefined) releases.push(() => rateLimiter.close());
    const budget = rateLimiter === undefined ? undefined : createRateBudget(rateLimiter, { windowSec: config.rateLimit.windowSec, planMissPoints: config.rateLimit.planMissPoints });
    const clientGuard = await startClientGuard(config, logger, metrics);
    if (clientGuard !== undefined) releases.push(() => clientGuard.close());
    // The gateway's plan cache returns the plan object it stored: a plan not seen before was just built.
    const knownPlans = new WeakSet<object>();
    const notePlan = (context: GatewayContext, hit: boolean) => {
      metrics.queryPlans.inc({ cache: hit ? 'hit' : 'miss' });
      // Planning a new document is the gateway's dearest work per request: its caller pays for it.
      if (!hit) budget?.chargePlan(rateLimitKey(context.principal ?? ANONYMOUS, context.clientIp));
    };
    const apolloGateway = new ApolloGateway({
      supergraphSdl: fileSupergraphManager({
        path: config.supergraphPath,
        logger,
        onReload: (reload) => {
          metrics.supergraphReloads.inc({ result: reload.ok ? 'applied' : 'rejected' });
          dependencies.onSupergraphReload?.(reload);
        },
      }),
      buildService: dataSources.buildService,
      logger,
      // Otherwise, outside NODE_ENV=production, any client could ask for the query plan, which names the subgraphs.
      __exposeQueryPlanExperimental: false,
      experimental_approximateQueryPlanStoreMiB: config.planCacheMiB,
      experimental_didResolveQueryPlan: ({ queryPlan, requestContext }) => {
        const hit = knownPlans.has(queryPlan);
        if (!hit) knownPlans.add(queryPlan);
        notePlan(requestContext.context as GatewayContext, hit);
      },
    });
    // What each served schema's supergraph says (its cost directives, its subgraphs), read once when it loads.
    const supergraphs = new WeakMap<GraphQLSchema, SupergraphFacts>();
    const analyzer = createRequestAnalyzer({ costModelOf: (schema) => supergraphs.get(schema)?.costModel, defaults: { listSize: config.limits.defaultListSize } });
    const gateway = authorizedGateway(apolloGateway, {
      policy: config.policy,
      deniedQueryFields: config.deniedQueryFields,
      logger,
      dataSource: dataSources.get,
      analyzer,
      planCacheMiB: config.planCacheMiB,
      onPlan: (requestContext, hit) => notePlan(requestContext.context, hit),
      ...(budget === undefined
        ? {}
        : {
            charge: async (requestContext, { analysis, lookups, admitted }) => {
              const caller = rateLimitKey(requestContext.context.principal ?? ANONYMOUS, requestContext.context.clientIp);
              if (!admitted) return budget.chargeLookups(caller, lookups);
              // Lookups of an admitted operation are part of what it costs.
              const decision = await budget.chargeExecution(caller, analysis.cost + lookups);
              if (decision === undefined) return;
              if (!decision.allowed) {
                budget.chargeLookups(caller, lookups);
                throw budget.refusal(decision);
              }
              for (const [name, value] of budget.headers(decision)) requestContext.response?.http?.headers.set(name, value);
            },
          }),
    });
    // One listener: each supergraph is read once, and everything that derives from it is prepared from that reading.
    apolloGateway.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => {
      const facts = supergraphFacts(apiSchema, coreSupergraphSdl);
      supergraphs.set(apiSchema, facts);
      publicData.prepare({ sdl: coreSupergraphSdl, hints: facts.cacheHints });
      gateway.prepare(facts);
      servedSchema = apiSchema;
      prepareTrusted();
      const names = new Set(facts.subgraphNames.map(subgraphUrlKey));
      for (const key of Object.keys(config.subgraphUrls)) {
        if (!names.has(key)) logger.warn({ variable: subgraphUrlVariable(key) }, 'this URL override names no subgraph of the supergraph: check its spelling');
      }
      // Known only now: the config is validated before any supergraph is read.
      for (const key of Object.keys(config.subgraphAuth ?? {})) {
        if (!names.has(key)) logger.warn({ variable: subgraphAuthVariable(key), setting: `subgraphAuth.${key}` }, 'this subgraph auth override names no subgraph of the supergraph: check its spelling');
      }
    });
    // The trusted documents: read now (a bad manifest stops the start), prepared for each schema as it loads.
    const trusted = config.trustedDocuments.manifests.length === 0 ? undefined : await createTrustedDocumentList({ manifests: config.trustedDocuments.manifests, logger, watch: true });
    if (trusted !== undefined) releases.push(() => trusted.close());
    const documentStore = createDocumentStore(DOCUMENT_CACHE_MIB);
    let servedSchema: GraphQLSchema | undefined;
    const prepareTrusted = () => {
      if (trusted === undefined || servedSchema === undefined) return;
      const { valid, problems } = validateTrustedDocuments(servedSchema, trusted.documents(), {
        rules: validationRules(config),
        ...(config.limits.maxTokens === 'off' ? {} : { maxTokens: config.limits.maxTokens }),
      });
      documentStore.pin(servedSchema, valid);
      gateway.prime(servedSchema, valid);
      for (const { document, errors } of problems) {
        logger.error({ operation: document.name, manifest: document.manifest, errors }, 'a trusted document does not validate against the supergraph: its requests will fail');
      }
      logger.info({ documents: valid.size, invalid: problems.length, mode: config.trustedDocuments.mode }, 'trusted documents prepared');
    };
    trusted?.onChange(prepareTrusted);
    const apollo = new ApolloServer<GatewayContext>({
      gateway: cacheControlled(gateway, publicData, { forwardHeaders: config.forwardHeaders }),
      logger,
      // Decided per caller (plugins/introspectionAccess.ts) and answered from the caller's view (authz/visibleIntrospection.ts).
      introspection: true,
      // No "Did you mean ..." that would name fields a caller cannot discover by introspection.
      hideSchemaDetailsFromClientErrors: !config.introspection,
      includeStacktraceInErrorResponses: false,
      formatError: createFormatError({ publicSubgraphCodes: config.publicErrorCodes, showLimitValues: config.mode === 'development' }),
      csrfPrevention: config.csrfPrevention,
      // One operation per request: a batch would multiply every per-operation limit.
      allowBatchedHttpRequests: false,
      // Decided before any of the gateway's own rules look at the document (Apollo runs those only once this bound
      // passed): no walk of a document, however its fragments multiply, goes past this many selections.
      ...(config.limits.maxExpandedSelections !== 'off' ? { maxRecursiveSelections: config.limits.maxExpandedSelections } : {}),
      validationRules: validationRules(config),
      documentStore,
      // graphql-js adds one error of its own when it stops ("Too many validation errors"): MAX_ERRORS in all.
      validationOptions: { maxErrors: Math.max(1, config.limits.maxErrors - 1) },
      persistedQueries: config.automaticPersistedQueries ? {} : false,
      ...(config.limits.maxTokens !== 'off' ? { parseOptions: { maxTokens: config.limits.maxTokens } } : {}),
      // Apollo Server would stop itself on SIGTERM and re-raise the signal, killing requests in flight; main.ts drains.
      stopOnTerminationSignals: false,
      plugins: gatewayPlugins({ config, logger, analyzer, metrics, clientGuard, viewOf: (schema, principal) => gateway.viewOf(schema, principal) }),
    });

    const explorer = config.explorer ? await loadExplorerAssets() : undefined;
    if (config.explorer && explorer === undefined) logger.warn({ dir: explorerAssetDir() }, 'the explorer\'s files are missing (run npm run build): /explorer is off');
    const serveMetrics = async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() });
    let handler: GraphQLHandler | undefined;
    const app = createHttpServer({
      logger,
      bodyLimitBytes: config.bodyLimitBytes,
      connections: config.connections,
      sandbox: config.sandbox,
      explorer,
      graphqlHandler: () => handler,
      draining: () => stopping !== undefined,
      authenticate: createAuthenticate(createTokenVerifier(config.auth, clientKeys), { required: config.auth.required }),
      gatewayJwks: { keys: [signingKey.publicJwk] },
      devIssuerJwks,
      trustedProxies: config.trustedProxies,
      cors: { origins: config.corsOrigins, credentials: config.corsCredentials },
      onRejected: (reason) => metrics.rejections.inc({ reason }),
      clientGuard,
      onBlocked: () => metrics.blockedRequests.inc(),
      metrics: config.metrics.kind === 'main' ? serveMetrics : undefined,
    });
    if (config.metrics.kind === 'port' && !dependencies.clusterWorker) {
      // A port of its own, for an internal network: metrics name operations and subgraphs.
      const metricsApp = Fastify({ logger: false });
      metricsApp.get('/metrics', async (_request, reply) => {
        const { contentType, body } = await serveMetrics();
        return reply.header('content-type', contentType).send(body);
      });
      await metricsApp.listen({ host: config.metrics.host, port: config.metrics.port });
      releases.push(() => metricsApp.close());
      const metricsAddress = metricsApp.server.address() as AddressInfo;
      lifecycleLogger(logger).info({ url: `http://${metricsAddress.address}:${metricsAddress.port}/metrics` }, 'metrics listening');
    }

    await app.listen({ host: config.host, port: config.port });
    closeHttp = async () => {
      const force = setTimeout(() => app.server.closeAllConnections(), config.shutdownTimeoutMs);
      try {
        await app.close();
      } finally {
        clearTimeout(force);
        handler = undefined;
      }
    };
    const address = app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;

    await apollo.start();
    releases.push(() => apollo.stop());
    const contextOf = async (request: FastifyRequest, headers: HeaderMap): Promise<GatewayContext> => {
      const forwardedHeaders: Record<string, string> = {};
      for (const name of config.forwardHeaders) {
        const value = headers.get(name);
        if (value !== undefined) forwardedHeaders[name] = value;
      }
      return { requestId: request.id, principal: request.principal ?? ANONYMOUS, clientToken: request.clientToken, forwardedHeaders, clientIp: request.ip, trustedDocument: request.trustedDocument };
    };
    // Requests Apollo refuses as unreadable count as `invalid` against their client (signalOfRefusedRequest)...
    const serve = graphqlHandler(apollo, contextOf, {
      onClientError:
        clientGuard === undefined
          ? undefined
          : (request, codes) => {
              const signal = signalOfRefusedRequest(codes);
              if (signal !== undefined) void clientGuard.note(request.principal ?? ANONYMOUS, request.ip, signal, requestFingerprint(request));
            },
    });
    // ...but never those the CSRF gate hands to Apollo unchecked (a browser opening /graphql): any web page can make
    // its visitors' browsers send them, and Apollo's own CSRF refusal of one would count against the visitor.
    const unscored = graphqlHandler(apollo, contextOf);
    // Admission first: every request costs its point, a caller over budget costs nothing more.
    const bounded = documentGate(serve, {
      maxQueryLength: config.limits.maxQueryLength,
      maxTokens: config.limits.maxTokens,
      maxSelectionPairs: config.limits.maxSelectionPairs,
      onRefused: (reason, request) => {
        metrics.rejections.inc({ reason });
        void clientGuard?.note(request.principal ?? ANONYMOUS, request.ip, 'limit');
      },
    });
    // Before any parsing, the trusted documents: a listed one goes on as its text, an unlisted one may stop here.
    const listed =
      trusted === undefined
        ? bounded
        : trustedDocumentGate(bounded, {
            mode: config.trustedDocuments.mode,
            list: trusted,
            bypassRoles: config.trustedDocuments.bypassRoles,
            onResult: (result, clientName, request, unlistedHash) => {
              metrics.trustedDocuments.inc({ result });
              if (result === 'miss_refused') void clientGuard?.note(request.principal ?? ANONYMOUS, request.ip, 'untrusted', unlistedHash);
              if (result === 'miss_refused' || result === 'miss_audited') metrics.untrustedDocuments.inc({ client: metrics.clientLabel(clientName) });
            },
            onUnlisted: ({ hash, clientName, operationName, refused }) =>
              (refused ? logger.info.bind(logger) : logger.warn.bind(logger))({ hash, clientName, operationName, mode: config.trustedDocuments.mode }, refused ? 'a document not in the trusted list was refused' : 'a document not in the trusted list was served (audit)'),
          });
    const admitted =
      budget === undefined
        ? listed
        : admittedHandler(listed, budget, (request) => {
            metrics.rejections.inc({ reason: 'rate' });
            void clientGuard?.note(request.principal ?? ANONYMOUS, request.ip, 'rateLimited');
          });
    // First of all, what any web page could make a browser send: refused before it costs or counts anything.
    handler = config.csrfPrevention ? csrfGate(admitted, { apollo: unscored }) : admitted;
    lifecycleLogger(logger).info({ url: `${url}/graphql`, supergraph: config.supergraphPath, mode: config.mode, keySource: config.auth.keySource.kind }, 'listening');
    return { url };
  };

  return {
    async start() {
      try {
        return await start();
      } catch (error) {
        await release();
        throw error;
      }
    },
    stop() {
      stopping ??= drainDelay().then(release);
      return stopping;
    },
  };
}

/**
 * The client guard of CLIENT_BLOCKING (src/clientBlocking), sharing scores and blocks through the rate limiter's Redis
 * when there is one; undefined when blocking is off.
 */
async function startClientGuard(config: GatewayConfig, logger: Logger, metrics: ReturnType<typeof createMetrics>): Promise<ClientGuard | undefined> {
  const { mode, ...settings } = config.clientBlocking;
  if (mode === 'off') return undefined;
  const redis =
    config.rateLimit.redisUrl === undefined
      ? undefined
      : connectRedis(config.rateLimit.redisUrl, logger, {
          onDown: 'Redis is unreachable; suspicious clients are scored and blocked by each replica alone until it is back',
          onUp: 'Redis is back; client blocks are shared between replicas again',
        });
  try {
    const guard = await createClientGuard({ ...settings, mode, redis, keyPrefix: config.redisKeyPrefix, logger, onBlock: (reason) => metrics.clientBlocks.inc({ reason }) });
    metrics.countBlockedClients(() => guard.blockedCount());
    return {
      ...guard,
      async close() {
        await guard.close();
        await redis?.close();
      },
    };
  } catch (error) {
    await redis?.close();
    throw error;
  }
}
