import type { FastifyRequest } from 'fastify';
import type { GraphQLHandler } from '../common/graphqlHandler.js';
import { ErrorCode, errorBody } from '../errors.js';

/** The headers that prove a request was preflighted, as Apollo Server's CSRF prevention names them. */
const PREFLIGHT_HEADERS = ['x-apollo-operation-name', 'apollo-require-preflight'] as const;
/** Content types a browser sends from any page without a CORS preflight. */
const NON_PREFLIGHTED_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);
/** A MIME type's essence (`type/subtype`), as whatwg-mimetype accepts one. */
const MIME_ESSENCE = /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/;
const MESSAGE =
  "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). Please either specify a 'content-type' header (with a type that is not one of application/x-www-form-urlencoded, multipart/form-data, text/plain) or provide a non-empty value for one of the following headers: x-apollo-operation-name, apollo-require-preflight";

/**
 * Apollo Server's CSRF prevention (its `preventCsrf`, which it does not export), decided before any of the gateway's
 * own gates instead of after them: a request any web page can make a visitor's browser send (a GET, or a POST with a
 * simple content type, without a preflight header) is refused here, 400 BAD_REQUEST as Apollo words it, before the
 * rate budget charges it, before the document gates read it, and before any of it counts against the client's
 * suspicion score. Otherwise a page could send the visitor's browser to refused documents until the visitor's
 * address is blocked (or its budget spent), for everyone behind it.
 */
export function csrfGate(handler: GraphQLHandler, options: { apollo: GraphQLHandler }): GraphQLHandler {
  return async (request, reply) => {
    if (preflighted(request)) return handler(request, reply);
    // A browser opening /graphql (Sandbox's landing page): Apollo answers it without running any operation (the page,
    // or its own CSRF refusal), and nothing of the gateway's gates reads it.
    if (request.method === 'GET' && (request.headers.accept ?? '').includes('text/html')) return options.apollo(request, reply);
    return reply.code(400).send(errorBody(ErrorCode.BadRequest, MESSAGE));
  };
}

/** Whether a browser could only have sent this request after a CORS preflight (Apollo Server's rule). */
export function preflighted(request: FastifyRequest): boolean {
  const contentType = request.headers['content-type'];
  if (contentType !== undefined) {
    const essence = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
    // A content type that does not parse is one no browser sends without a preflight (Apollo lets it through too).
    if (!MIME_ESSENCE.test(essence) || !NON_PREFLIGHTED_CONTENT_TYPES.has(essence)) return true;
  }
  return PREFLIGHT_HEADERS.some((name) => {
    const value = request.headers[name];
    return typeof value === 'string' ? value.length > 0 : Array.isArray(value) && value.some((entry) => entry.length > 0);
  });
}
