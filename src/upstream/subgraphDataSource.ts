import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions, type ServiceEndpointDefinition } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { GraphQLError } from 'graphql';
import type { FetchDecision, PublicData } from '../cache/publicData.js';
import type { SubgraphTokens } from './subgraphTokens.js';
import { ANONYMOUS } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { subgraphUrlKey } from '../config/index.js';
import type { SubgraphAuthMode } from '../config/schema.js';
import { deduplicateInflight } from './inflightDeduplication.js';
import { SubgraphStatusError, SubgraphUnreachableError } from './subgraphErrors.js';
import type { Fetcher, FetcherRequestInit } from './subgraphResponse.js';
import { createSubgraphTransport, DEFAULT_CONNECTIONS_PER_ORIGIN, DEFAULT_MAX_RESPONSE_BYTES } from './subgraphTransport.js';

export interface SubgraphDataSourceOptions {
  /** Per-subgraph URL overrides by subgraph name; the supergraph's URL is used otherwise. */
  urls: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** Per-subgraph deadlines, by `subgraphUrlKey(name)`, over `timeoutMs`. */
  timeouts: Readonly<Record<string, number>>;
  /** Mints the token that tells a subgraph the request comes from this gateway, and for whom (`mint` subgraphs). */
  tokens: SubgraphTokens;
  /** How each subgraph's requests are authenticated, unless `authModes` names it. */
  authMode: SubgraphAuthMode;
  /** Per-subgraph authentication, by `subgraphUrlKey(name)`, over `authMode`. */
  authModes: Readonly<Record<string, SubgraphAuthMode>>;
  /** Share identical subgraph queries in flight at the same moment (see inflightDeduplication.ts). */
  deduplicate: boolean;
  /**
   * `keepalive` (default): undici pools (subgraphTransport.ts). `apollo-default` leaves RemoteGraphQLDataSource's own
   * fetcher in place (no keep-alive, deadline, size cap or deduplication): for measuring only.
   */
  fetcher?: 'keepalive' | 'apollo-default';
  /** Connections per subgraph origin; `DEFAULT_CONNECTIONS_PER_ORIGIN` when absent. */
  connectionsPerOrigin?: number;
  /** The most read of one subgraph answer; `DEFAULT_MAX_RESPONSE_BYTES` when absent. */
  maxResponseBytes?: number;
  onDeduplicated?: () => void;
  /**
   * Which fetches are public (by the supergraph's cache hints): those are sent as the anonymous caller, so that every
   * caller shares them (deduplicated, and cached when the cache is on). Absent: every fetch is the caller's.
   */
  publicData?: PublicData;
  /** Told of every subgraph round trip: how long it took and whether it failed (network, deadline, size, non-2xx). */
  onFetched?: (subgraph: string, seconds: number, failed: boolean) => void;
}

/**
 * The gateway's `buildService`: one data source per subgraph, all sharing one undici pool per subgraph origin.
 *
 * The default fetcher (make-fetch-happen) opens and caches connections in ways that cost about half the throughput,
 * and node-fetch over Node's http agent still spent a third of the gateway's CPU under many callers. Every call has a
 * deadline and a size cap, so a slow or flooding subgraph yields a partial result, not a hung client or a full heap.
 */
export function subgraphDataSources(options: SubgraphDataSourceOptions): {
  buildService: (definition: ServiceEndpointDefinition) => RemoteGraphQLDataSource<GatewayContext>;
  /** The data source last built for a subgraph, for requests the gateway makes of its own (rules' look-ups). */
  get: (subgraph: string) => RemoteGraphQLDataSource<GatewayContext> | undefined;
  close: () => Promise<void>;
} {
  const built = new Map<string, RemoteGraphQLDataSource<GatewayContext>>();
  const transport = createSubgraphTransport({
    connectionsPerOrigin: options.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
  });
  const fetcherFor = (subgraph: string, timeoutMs: number): Fetcher => {
    const fetch = async (url: string, given: FetcherRequestInit = {}) => {
      const init = withoutGeneration(given);
      const started = performance.now();
      try {
        const response = await transport.fetch(subgraph, timeoutMs, url, init);
        options.onFetched?.(subgraph, (performance.now() - started) / 1000, !response.ok);
        return response;
      } catch (error) {
        options.onFetched?.(subgraph, (performance.now() - started) / 1000, true);
        throw error;
      }
    };
    return options.deduplicate ? deduplicateInflight(fetch, options.onDeduplicated) : fetch;
  };

  return {
    buildService({ name, url }) {
      const key = subgraphUrlKey(name);
      const credentials = subgraphCredentials(options.authModes[key] ?? options.authMode, options.tokens);
      const dataSource =
        options.fetcher === 'apollo-default'
          ? withFailuresClassified(name, new SubgraphDataSource(name, credentials, options.publicData, { url: options.urls[key] ?? url }))
          : new SubgraphDataSource(name, credentials, options.publicData, { url: options.urls[key] ?? url, fetcher: fetcherFor(name, options.timeouts[key] ?? options.timeoutMs) });
      built.set(name, dataSource);
      return dataSource;
    },
    get: (subgraph) => built.get(subgraph),
    close: () => transport.close(),
  };
}

/** What one subgraph's requests carry as credentials: a token minted for it, or the client's own. */
type SubgraphCredentials = { readonly mode: 'mint'; readonly tokens: SubgraphTokens } | { readonly mode: 'forward' };

function subgraphCredentials(mode: SubgraphAuthMode, tokens: SubgraphTokens): SubgraphCredentials {
  switch (mode) {
    case 'mint':
      return { mode, tokens };
    case 'forward':
      return { mode };
    default: {
      const unknown: never = mode;
      throw new Error(`unknown subgraph auth mode ${String(unknown)}`);
    }
  }
}

/** The decision on each request being sent, for `willSendRequest`, which gets the same request object. */
const decisions = new WeakMap<object, FetchDecision>();
/** The cache versions a public fetch read before it was sent (see CACHE_GENERATION_HEADER). */
const generations = new WeakMap<object, string>();

/**
 * Carries, from a public fetch to the fetcher, the versions of the types its answer depends on as the cache read them:
 * in-flight deduplication keys on the request's headers, so a fetch that starts after a mutation never joins one sent
 * before it, whose answer would be stored as fresh under the new versions. The fetcher takes it out: no subgraph
 * sees it.
 */
const CACHE_GENERATION_HEADER = 'x-gateway-cache-generation';

function withoutGeneration(init: FetcherRequestInit): FetcherRequestInit {
  const headers = init.headers as Record<string, string> | undefined;
  if (headers === undefined || !(CACHE_GENERATION_HEADER in headers)) return init;
  const { [CACHE_GENERATION_HEADER]: _generation, ...rest } = headers;
  return { ...init, headers: rest };
}
const INCOMING_OPERATION = 'incoming operation' as Extract<GraphQLDataSourceProcessOptions, { incomingRequestContext: unknown }>['kind'];

class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(
    private readonly subgraph: string,
    private readonly credentials: SubgraphCredentials,
    private readonly publicData: PublicData | undefined,
    config: ConstructorParameters<typeof RemoteGraphQLDataSource<GatewayContext>>[0],
  ) {
    super(config);
    // The client's Cache-Control comes from the supergraph's hints (see src/cache/cacheControl.ts), the same whether an
    // answer came from the subgraph or from the cache: the subgraphs' own headers are not mixed in.
    this.honorSubgraphCacheControlHeader = false;
  }

  /**
   * A public fetch (every field PUBLIC, maxAge above 0) is answered from the cache when it holds it, else sent and
   * its answer kept for its maxAge, unless it carries errors. A mutation's completion, whatever its outcome, tells
   * the cache which types it changed. Anything else goes as it always did.
   */
  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    const publicData = this.publicData;
    const query = options.request.query;
    if (publicData === undefined || options.kind !== INCOMING_OPERATION || query === undefined) return super.process(options);
    const decision = publicData.decide(query, options.document);
    decisions.set(options.request, decision);
    switch (decision.kind) {
      case 'private':
        return super.process(options);
      case 'mutation':
        try {
          return await super.process(options);
        } finally {
          await publicData.changed(decision.types);
        }
      case 'public': {
        if (!publicData.caching) return super.process(options);
        const key = publicData.key(this.subgraph, query, options.request.variables, options.context.forwardedHeaders ?? {});
        const found = await publicData.lookup(key, decision);
        if (found?.hit === true) return JSON.parse(found.body) as GatewayGraphQLResponse;
        if (found !== undefined) generations.set(options.request, found.versions.join('.'));
        const response = await super.process(options);
        if (found !== undefined && response.data != null && (response.errors === undefined || response.errors.length === 0)) {
          // Not waited for: the caller has its answer; a store that fails only means the next request fetches again.
          publicData.store(key, JSON.stringify({ data: response.data }), decision.policy, found).catch(() => undefined);
        }
        return response;
      }
      default: {
        const unknown: never = decision;
        throw new Error(`unknown fetch decision ${JSON.stringify(unknown)}`);
      }
    }
  }

  /**
   * Each request carries its credentials (a token the gateway minted for this subgraph, or, for a `forward` subgraph,
   * the client's verified token), plus the request id (to correlate logs) and the headers the allowlist passes on.
   * Nothing else of the client's request does. The gateway's own requests (authorization look-ups, which come through
   * here too) are authenticated the same way, as the caller they are made for. A public fetch to a `mint` subgraph is
   * sent as the anonymous caller instead (see `process`).
   */
  override async willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<void> {
    const headers = request.http?.headers;
    if (headers === undefined) return;
    const forwarded: Readonly<Record<string, string>> = context.forwardedHeaders ?? {};
    for (const [name, value] of Object.entries(forwarded)) headers.set(name, value);
    if (context.requestId) headers.set('x-request-id', context.requestId);
    const generation = generations.get(request);
    if (generation !== undefined) headers.set(CACHE_GENERATION_HEADER, generation);
    // A public fetch is everyone's: to a `mint` subgraph it goes as the anonymous caller, so its answer cannot depend
    // on who asked, the subgraph never learns who did, and callers share it in flight. A `forward` subgraph keeps the
    // caller's token: the gateway has no token of its own that such a subgraph accepts, and sending none would fail
    // every public fetch of a subgraph that refuses anonymous calls (its answers are still cached, by the hints).
    const shared = decisions.get(request)?.kind === 'public';
    switch (this.credentials.mode) {
      case 'mint':
        headers.set('authorization', `Bearer ${await this.credentials.tokens.tokenFor(this.subgraph, shared ? ANONYMOUS : (context.principal ?? ANONYMOUS))}`);
        return;
      case 'forward': {
        // An anonymous caller sent no token: the subgraph sees no credentials and decides as it does for anyone
        // anonymous. A request with no client context (none today) is anonymous too.
        const token = context.clientToken;
        if (token === undefined) headers.delete('authorization');
        else headers.set('authorization', token.authorization());
        return;
      }
      default: {
        const unknown: never = this.credentials;
        throw new Error(`unknown subgraph credentials ${JSON.stringify(unknown)}`);
      }
    }
  }

  /**
   * A non-2xx answer. Apollo's own error puts the subgraph's URL and whole body in `extensions` and turns 401/403 into
   * the client's UNAUTHENTICATED/FORBIDDEN; this one carries a `SubgraphStatusError`, which the masking maps by its
   * status (src/errors.ts) and the log shows with the start of the body.
   */
  override async errorFromResponse(response: Awaited<ReturnType<Fetcher>>): Promise<GraphQLError> {
    const body = await response.text();
    const failure = new SubgraphStatusError(this.subgraph, response.status, body.length <= BODY_EXCERPT ? body : `${body.slice(0, BODY_EXCERPT)}…`);
    return new GraphQLError(failure.message, { originalError: failure });
  }
}

/** How much of a non-2xx answer's body the log gets. */
const BODY_EXCERPT = 300;

/**
 * RemoteGraphQLDataSource's own fetcher (make-fetch-happen, which only the benchmark's `apollo-default` switch runs)
 * fails with classes of its own: a failure of it is reported as the transport's, so the masking knows it by class.
 */
function withFailuresClassified(subgraph: string, dataSource: SubgraphDataSource): SubgraphDataSource {
  const fetcher = dataSource.fetcher;
  dataSource.fetcher = async (url, init) => {
    try {
      return await fetcher(url, init);
    } catch (error) {
      throw new SubgraphUnreachableError(subgraph, `the ${subgraph} subgraph could not be reached: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  };
  return dataSource;
}
