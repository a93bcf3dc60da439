import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Most distinct operation names counted by name; the rest are counted as `other`, so a client cannot blow up the series. */
const MAX_OPERATION_NAMES = 200;
/** Most distinct client names counted by name, likewise. */
const MAX_CLIENT_NAMES = 50;

export type RejectionReason = 'auth' | 'authz' | 'depth' | 'cost' | 'aliases' | 'root_fields' | 'directives' | 'tokens' | 'field_cap' | 'rate' | 'size' | 'validation' | 'expansion' | 'timeout' | 'malformed' | 'connection';

export interface GatewayMetrics {
  registry: Registry;
  /** A bounded label for an operation name. */
  operationLabel(name: string | null | undefined): string;
  requests: Counter<'operation' | 'outcome'>;
  requestDuration: Histogram<'operation'>;
  rejections: Counter<'reason'>;
  subgraphDuration: Histogram<'subgraph'>;
  subgraphErrors: Counter<'subgraph'>;
  supergraphReloads: Counter<'result'>;
  deduplicated: Counter;
  queryPlans: Counter<'cache'>;
  /** Lookups of the public data cache, by result (hit, miss). */
  cacheRequests: Counter<'result'>;
  /** Entries the public data cache dropped before they expired, by reason (mutation, supergraph, capacity). */
  cacheEvictions: Counter<'reason'>;
  /** What the trusted document list made of each request that named or sent a document. */
  trustedDocuments: Counter<'result'>;
  /** Documents not in the trusted list, by the client's name (bounded like operation names). */
  untrustedDocuments: Counter<'client'>;
  /** A bounded label for an Apollo client name (`apollographql-client-name`). */
  clientLabel(name: string): string;
  /** Clients this replica blocked, by the signal that weighed most. */
  clientBlocks: Counter<'reason'>;
  /** Clients blocked now (by any replica), read from `count` when scraped. */
  countBlockedClients(count: () => number): void;
  /** Requests refused because their client is blocked. */
  blockedRequests: Counter;
}

/** The gateway's Prometheus metrics (prom-client), in a registry of their own, with Node's process metrics. */
export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const seen = new Set<string>();
  const clients = new Set<string>();
  let blockedClients = () => 0;
  const seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  // Every replica knows every block: across cluster workers the count is the largest, not the sum.
  new Gauge({
    name: 'gateway_clients_blocked',
    help: 'Clients blocked now',
    aggregator: 'max',
    registers: [registry],
    collect() {
      this.set(blockedClients());
    },
  });
  return {
    registry,
    operationLabel(name) {
      if (name === null || name === undefined || name === '') return 'anonymous';
      if (seen.has(name)) return name;
      if (seen.size >= MAX_OPERATION_NAMES || !/^[_A-Za-z][_0-9A-Za-z]{0,99}$/.test(name)) return 'other';
      seen.add(name);
      return name;
    },
    clientLabel(name) {
      if (clients.has(name)) return name;
      if (clients.size >= MAX_CLIENT_NAMES || !/^[-_.@/A-Za-z0-9 ()]{1,64}$/.test(name)) return 'other';
      clients.add(name);
      return name;
    },
    requests: new Counter({ name: 'gateway_graphql_requests_total', help: 'GraphQL operations by name and outcome (success, error, rejected)', labelNames: ['operation', 'outcome'], registers: [registry] }),
    requestDuration: new Histogram({ name: 'gateway_graphql_request_duration_seconds', help: 'Time to answer a GraphQL operation', labelNames: ['operation'], buckets: seconds, registers: [registry] }),
    rejections: new Counter({ name: 'gateway_rejections_total', help: 'Requests refused, by reason', labelNames: ['reason'], registers: [registry] }),
    subgraphDuration: new Histogram({ name: 'gateway_subgraph_fetch_duration_seconds', help: 'Time of one subgraph request', labelNames: ['subgraph'], buckets: seconds, registers: [registry] }),
    subgraphErrors: new Counter({ name: 'gateway_subgraph_fetch_errors_total', help: 'Subgraph requests that failed (network, timeout, non-2xx)', labelNames: ['subgraph'], registers: [registry] }),
    supergraphReloads: new Counter({ name: 'gateway_supergraph_reloads_total', help: 'Supergraph file changes, applied or rejected', labelNames: ['result'], registers: [registry] }),
    deduplicated: new Counter({ name: 'gateway_subgraph_deduplicated_total', help: 'Subgraph requests answered by an identical one already in flight', registers: [registry] }),
    queryPlans: new Counter({ name: 'gateway_query_plans_total', help: 'Operations planned (cache miss) or run on a cached plan (hit)', labelNames: ['cache'], registers: [registry] }),
    cacheRequests: new Counter({ name: 'gateway_cache_requests_total', help: 'Lookups of the public data cache, by result (hit, miss)', labelNames: ['result'], registers: [registry] }),
    cacheEvictions: new Counter({ name: 'gateway_cache_evictions_total', help: 'Entries of the public data cache dropped before they expired, by reason (mutation, supergraph, capacity)', labelNames: ['reason'], registers: [registry] }),
    trustedDocuments: new Counter({ name: 'gateway_trusted_documents_total', help: 'Requests by what the trusted document list made of them (hit, miss_refused, miss_audited, bypass)', labelNames: ['result'], registers: [registry] }),
    clientBlocks: new Counter({ name: 'gateway_client_blocks_total', help: 'Clients blocked by this replica, by the signal that weighed most (credentials, forbidden, invalid, limit, untrusted, rateLimited)', labelNames: ['reason'], registers: [registry] }),
    countBlockedClients: (count) => {
      blockedClients = count;
    },
    blockedRequests: new Counter({ name: 'gateway_blocked_requests_total', help: 'Requests refused with CLIENT_BLOCKED', registers: [registry] }),
    untrustedDocuments: new Counter({ name: 'gateway_untrusted_documents_total', help: 'Documents not in the trusted list, by client name (apollographql-client-name)', labelNames: ['client'], registers: [registry] }),
  };
}

const LIMIT_REASONS: Readonly<Record<string, RejectionReason>> = {
  MAX_DEPTH_EXCEEDED: 'depth',
  MAX_COST_EXCEEDED: 'cost',
  MAX_ALIASES_EXCEEDED: 'aliases',
  MAX_ROOT_FIELDS_EXCEEDED: 'root_fields',
  MAX_DIRECTIVES_EXCEEDED: 'directives',
  FIELD_CAP_EXCEEDED: 'field_cap',
  // Apollo Server's own code for its maxRecursiveSelections bound (MAX_EXPANDED_SELECTIONS).
  MAX_RECURSIVE_SELECTIONS_EXCEEDED: 'expansion',
};

/** The rejection reason an error stands for, if it is a rejection. */
export function rejectionReason(extensions: Readonly<Record<string, unknown>> | undefined): RejectionReason | undefined {
  const code = extensions?.['code'];
  const validation = extensions?.['validationErrorCode'];
  if (typeof validation === 'string' && LIMIT_REASONS[validation] !== undefined) return LIMIT_REASONS[validation];
  switch (code) {
    case 'FORBIDDEN':
      return 'authz';
    case 'RATE_LIMITED':
      return 'rate';
    case 'UNAUTHENTICATED':
      return 'auth';
    case 'GRAPHQL_PARSE_FAILED':
      return 'tokens';
    case 'GRAPHQL_VALIDATION_FAILED':
      return 'validation';
    default:
      return undefined;
  }
}
