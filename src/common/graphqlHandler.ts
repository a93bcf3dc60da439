import { Readable } from 'node:stream';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import type { FastifyReply, FastifyRequest } from 'fastify';

export type GraphQLHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * Hands a Fastify request to Apollo Server and writes its answer back. This is what `@as-integrations/fastify`'s
 * handler does, in the same steps; its generic `this` typing does not fit a route whose handler is chosen at run
 * time or guarded by a preHandler, so it is written out here once for the gateway and the subgraphs.
 */
export function graphqlHandler<TContext extends BaseContext>(
  apollo: ApolloServer<TContext>,
  context: (request: FastifyRequest, headers: HeaderMap) => Promise<TContext>,
): GraphQLHandler {
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
      context: () => context(request, headers),
    });
    for (const [name, value] of response.headers) void reply.header(name, value);
    void reply.code(response.status ?? 200);
    if (response.body.kind === 'complete') return reply.send(response.body.string);
    return reply.send(Readable.from(response.body.asyncIterator));
  };
}
