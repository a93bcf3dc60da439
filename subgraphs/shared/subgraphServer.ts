import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import type { DocumentNode } from 'graphql';
import { OperationCounter } from './operationCounter.js';

// `any`: buildSubgraphSchema types its resolver map's context as unknown; resolvers annotate SubgraphContext themselves.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SubgraphResolvers = GraphQLResolverMap<any>;

/** What every demo subgraph resolver receives. */
export interface SubgraphContext {
  /** The caller's user id, when the gateway sent one; null for an anonymous caller. */
  userId: string | null;
}

export interface SubgraphOptions {
  name: string;
  typeDefs: DocumentNode;
  resolvers: SubgraphResolvers;
}

export interface RunningSubgraph {
  url: string;
  close(): Promise<void>;
}

export interface Subgraph {
  readonly name: string;
  readonly counter: OperationCounter;
  /** Starts serving `POST|GET /graphql` and `GET /health`; port 0 picks a free port. */
  listen(options: { host: string; port: number }): Promise<RunningSubgraph>;
}

/** A demo subgraph: an Apollo Server with a federation schema, served over HTTP, counting what it receives. */
export function createSubgraph(options: SubgraphOptions): Subgraph {
  const counter = new OperationCounter();
  const schema = buildSubgraphSchema({ typeDefs: options.typeDefs, resolvers: options.resolvers });

  return {
    name: options.name,
    counter,
    async listen({ host, port }) {
      const app = Fastify({ logger: false });
      const plugins: ApolloServerPlugin[] = [
        counter.plugin(),
        fastifyApolloDrainPlugin(app),
        ApolloServerPluginLandingPageDisabled(),
        // The gateway never asks for federated traces (its usage reporting is off).
        ApolloServerPluginInlineTraceDisabled(),
      ];
      // CSRF prevention stays on, as the gateway sends JSON; introspection is for the gateway's developers only.
      const apollo = new ApolloServer<SubgraphContext>({ schema, plugins, introspection: false, stopOnTerminationSignals: false });
      await apollo.start();
      app.get('/health', async () => ({ status: 'ok' }));
      app.route({
        method: ['GET', 'POST', 'OPTIONS'],
        url: '/graphql',
        handler: fastifyApolloHandler(apollo, { context: async () => ({ userId: null }) }),
      });
      await app.listen({ host, port });
      const address = app.server.address() as AddressInfo;
      const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return {
        url: `http://${urlHost}:${address.port}/graphql`,
        close: () => apollo.stop(),
      };
    },
  };
}
