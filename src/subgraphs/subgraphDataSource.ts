import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions, type ServiceEndpointDefinition } from '@apollo/gateway';
import nodeFetch, { type RequestInit } from 'node-fetch';
import type { GatewayContext } from '../context.js';

export interface SubgraphDataSourceOptions {
  /** Per-subgraph URL overrides by subgraph name; the supergraph's URL is used otherwise. */
  urls: Readonly<Record<string, string>>;
  timeoutMs: number;
}

/**
 * The gateway's `buildService`: one data source per subgraph, all sharing keep-alive connection pools.
 *
 * The default fetcher (make-fetch-happen) opens and caches connections in ways that cost about half the throughput;
 * node-fetch over a keep-alive agent measured about 1.9x faster here. Every call has a deadline, so a slow subgraph
 * yields a partial result instead of a hung client.
 */
export function subgraphDataSources(options: SubgraphDataSourceOptions): {
  buildService: (definition: ServiceEndpointDefinition) => RemoteGraphQLDataSource<GatewayContext>;
  close: () => void;
} {
  const httpAgent = new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
  const httpsAgent = new HttpsAgent({ keepAlive: true, scheduling: 'lifo' });
  const fetcher = ((url: string, init: RequestInit) =>
    // node-fetch 2 is CommonJS: its function is the module's `default` under Node's ESM interop.
    nodeFetch.default(url, {
      ...init,
      agent: (parsed: URL) => (parsed.protocol === 'https:' ? httpsAgent : httpAgent),
      signal: AbortSignal.timeout(options.timeoutMs),
    })) as unknown as RemoteGraphQLDataSource['fetcher'];

  return {
    buildService({ name, url }) {
      return new SubgraphDataSource({ url: options.urls[name.toLowerCase()] ?? url, fetcher });
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    // Correlates the subgraph's logs with the gateway's; no client header is forwarded as is.
    if (context.requestId) request.http?.headers.set('x-request-id', context.requestId);
  }
}
