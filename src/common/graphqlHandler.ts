import { Readable } from 'node:stream';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import type { FastifyReply, FastifyRequest } from 'fastify';

export type GraphQLHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface GraphQLHandlerOptions {
  /**
   * Told of each answer with a 4xx status, with the codes (`extensions.code`) of its errors as the client reads them.
   * Apollo Server refuses a request it cannot read as a GraphQL request (no query, `variables` that are not an object,
   * a batch) before any plugin hears of it: its answer is the one place such a refusal shows. Absent, no answer is read.
   */
  onClientError?: ((request: FastifyRequest, codes: readonly string[]) => void) | undefined;
}

/**
 * Hands a Fastify request to Apollo Server and writes its answer back. This is what `@as-integrations/fastify`'s
 * handler does, in the same steps; its generic `this` typing does not fit a route whose handler is chosen at run
 * time or guarded by a preHandler, so it is written out here once for the gateway and the subgraphs.
 */
export function graphqlHandler<TContext extends BaseContext>(
  apollo: ApolloServer<TContext>,
  context: (request: FastifyRequest, headers: HeaderMap) => Promise<TContext>,
  options: GraphQLHandlerOptions = {},
): GraphQLHandler {
  const { onClientError } = options;
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
    const status = response.status ?? 200;
    void reply.code(status);
    if (response.body.kind === 'complete') {
      if (onClientError !== undefined && status >= 400 && status < 500) onClientError(request, errorCodesOf(response.body.string));
      return reply.send(response.body.string);
    }
    return reply.send(Readable.from(response.body.asyncIterator));
  };
}

/** The `extensions.code` of each error in a GraphQL answer's text; none when it is not one. */
function errorCodesOf(text: string): string[] {
  try {
    const { errors } = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(errors)) return [];
    return errors.flatMap((error: { extensions?: { code?: unknown } } | null) => (typeof error?.extensions?.code === 'string' ? [error.extensions.code] : []));
  } catch {
    return [];
  }
}
