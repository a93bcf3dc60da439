import type { FastifyRequest } from 'fastify';
import type { GraphQLHandler } from '../common/graphqlHandler.js';
import { ANONYMOUS } from '../auth/principal.js';
import { ErrorCode, errorBody } from '../errors.js';
import { rateLimitKey, type RateBudget } from './rateBudget.js';

/**
 * The GraphQL handler behind the rate budget's admission point: each request is charged one point before Apollo
 * parses anything, and a caller whose budget is spent gets 429 with Retry-After without costing the gateway more.
 * Every answer carries the RateLimit-* headers (the executor replaces them once it charged the operation's cost).
 */
export function admittedHandler(handler: GraphQLHandler, budget: RateBudget, onRefused: (request: FastifyRequest) => void): GraphQLHandler {
  return async (request, reply) => {
    const decision = await budget.admit(rateLimitKey(request.principal ?? ANONYMOUS, request.ip));
    for (const [name, value] of budget.headers(decision)) void reply.header(name, value);
    if (!decision.allowed) {
      onRefused(request);
      return reply.code(429).header('retry-after', String(decision.resetSec)).send(errorBody(ErrorCode.RateLimited, 'Too many requests: the rate limit for this caller is used up; retry later'));
    }
    return handler(request, reply);
  };
}
