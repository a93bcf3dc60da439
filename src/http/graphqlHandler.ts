import { Readable } from 'node:stream';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.js';

export type GraphQLHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * Hands a Fastify request to Apollo Server and writes its answer back: the job of `@as-integrations/fastify`'s
 * handler, whose generic `this` typing does not fit a route chosen at run time (the handler exists only once the
 * supergraph is loaded). Kept to the same steps as that integration.
 */
export function graphqlHandler(apollo: ApolloServer<GatewayContext>): GraphQLHandler {
  return async (request, reply) => {
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const queryAt = request.url.indexOf('?');
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: {
        method: request.method.toUpperCase(),
        headers,
        search: queryAt === -1 ? '' : request.url.slice(queryAt),
        body: request.body,
      },
      context: async () => ({ requestId: request.id }),
    });
    for (const [name, value] of response.headers) void reply.header(name, value);
    void reply.code(response.status ?? 200);
    if (response.body.kind === 'complete') return reply.send(response.body.string);
    return reply.send(Readable.from(response.body.asyncIterator));
  };
}
