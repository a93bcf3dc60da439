import { ErrorCode, errorBody } from '../errors.js';
import type { GraphQLHandler } from './graphqlHandler.js';

/**
 * Refuses a GraphQL document longer than `maxLength` characters before Apollo parses (and caches) it: 413
 * PAYLOAD_TOO_LARGE. The token limit does not see whitespace, comments or long string literals, and a parsed document
 * keeps its whole source text alive in the document and plan caches, so without this a few thousand requests of a
 * 20-token query behind a 900 KB comment filled the heap. Both a POST body's `query` and a GET's `?query=` count.
 */
export function limitQueryLength(handler: GraphQLHandler, maxLength: number, onRefused: () => void): GraphQLHandler {
  return async (request, reply) => {
    const fromBody = typeof request.body === 'object' && request.body !== null ? (request.body as { query?: unknown }).query : undefined;
    const fromUrl = typeof request.query === 'object' && request.query !== null ? (request.query as { query?: unknown }).query : undefined;
    const query = typeof fromBody === 'string' ? fromBody : typeof fromUrl === 'string' ? fromUrl : undefined;
    if (query !== undefined && query.length > maxLength) {
      onRefused();
      return reply.code(413).send(errorBody(ErrorCode.PayloadTooLarge, `The GraphQL document is longer than ${maxLength} characters`));
    }
    return handler(request, reply);
  };
}
