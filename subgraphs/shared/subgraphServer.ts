import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import type { DocumentNode } from 'graphql';
import { graphqlHandler } from '../../src/common/index.js';
import { OperationCounter } from './operationCounter.js';
import { gatewayTokenCheck, GatewayTokenError, type GatewayTrust } from './gatewayTrust.js';

// `any`: buildSubgraphSchema types its resolver map's context as unknown; resolvers annotate SubgraphContext themselves.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SubgraphResolvers = GraphQLResolverMap<any>;

/** What every demo subgraph resolver receives: the caller, as the gateway's token describes them. */
export interface SubgraphContext {
  /** The caller's user id (the token's subject); null for an anonymous caller. */
  userId: string | null;
  roles: readonly string[];
  scopes: readonly string[];
}

const ANONYMOUS_CONTEXT: SubgraphContext = { userId: null, roles: [], scopes: [] };

declare module 'fastify' {
  interface FastifyRequest {
    subgraphContext: SubgraphContext | undefined;
  }
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
  /**
   * Starts serving `POST|GET /graphql` to callers with a valid gateway token, and `GET /health` to anyone;
   * port 0 picks a free port.
   */
  listen(options: { host: string; port: number; trust: GatewayTrust }): Promise<RunningSubgraph>;
}

/** A demo subgraph: an Apollo Server with a federation schema, served over HTTP, counting what it receives. */
export function createSubgraph(options: SubgraphOptions): Subgraph {
  const counter = new OperationCounter();
  const schema = buildSubgraphSchema({ typeDefs: options.typeDefs, resolvers: options.resolvers });

  return {
    name: options.name,
    counter,
    async listen({ host, port, trust }) {
      const checkToken = gatewayTokenCheck(trust, options.name);
      const app = Fastify({ logger: false });
      const plugins: ApolloServerPlugin[] = [
        counter.plugin(),
        ApolloServerPluginLandingPageDisabled(),
        // The gateway never asks for federated traces (its usage reporting is off).
        ApolloServerPluginInlineTraceDisabled(),
      ];
      // CSRF prevention stays on, as the gateway sends JSON; introspection is for the gateway's developers only.
      const apollo = new ApolloServer<SubgraphContext>({ schema, plugins, introspection: false, stopOnTerminationSignals: false });
      await apollo.start();
      app.get('/health', async () => ({ status: 'ok' }));
      app.decorateRequest('subgraphContext', undefined);
      app.route({
        method: ['GET', 'POST'],
        url: '/graphql',
        preHandler: async (request, reply) => {
          try {
            request.subgraphContext = await checkToken(request.headers.authorization);
          } catch (error) {
            if (!(error instanceof GatewayTokenError)) throw error;
            counter.rejected += 1;
            return reply
              .code(401)
              .header('www-authenticate', 'Bearer error="invalid_token"')
              .send({ errors: [{ message: 'Only the gateway may call this service', extensions: { code: 'UNAUTHENTICATED' } }] });
          }
        },
        handler: graphqlHandler(apollo, async (request) => request.subgraphContext ?? ANONYMOUS_CONTEXT),
      });
      await app.listen({ host, port });
      const address = app.server.address() as AddressInfo;
      const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return {
        url: `http://${urlHost}:${address.port}/graphql`,
        close: async () => {
          await app.close();
          await apollo.stop();
        },
      };
    },
  };
}
