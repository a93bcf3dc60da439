import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { GatewayContext } from '../context.js';
import { ErrorCode } from '../errors.js';
import type { CostRateLimiter, RateLimitDecision } from '../rateLimit/costRateLimiter.js';

/** The caller a budget belongs to: the token's subject, else the client's address. */
export function rateLimitKey(context: GatewayContext): string {
  return context.principal.kind === 'user' ? `user:${context.principal.subject}` : `ip:${context.clientIp}`;
}

function rateLimitHeaders(decision: RateLimitDecision, windowSec: number): [string, string][] {
  // draft-ietf-httpapi-ratelimit-headers: the budget, what is left of it, and when it resets.
  return [
    ['ratelimit-limit', String(decision.limit)],
    ['ratelimit-remaining', String(decision.remaining)],
    ['ratelimit-reset', String(decision.resetSec)],
    ['ratelimit-policy', `${decision.limit};w=${windowSec}`],
  ];
}

/**
 * Charges each operation's estimated cost (set by the limits plugin) to its caller's budget, before it runs. Over
 * budget: 429 with Retry-After, and nothing is executed. Every answer carries the RateLimit-* headers.
 */
export function rateLimit(limiter: CostRateLimiter, windowSec: number): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      let decision: RateLimitDecision | undefined;
      return {
        async didResolveOperation({ contextValue }) {
          // Every operation costs at least a point: one that selects nothing costly still reaches the gateway and, often,
          // a subgraph.
          decision = await limiter.consume(rateLimitKey(contextValue), Math.max(1, contextValue.cost ?? 1));
          if (!decision.allowed) {
            const headers = new HeaderMap([...rateLimitHeaders(decision, windowSec), ['retry-after', String(decision.resetSec)]]);
            throw new GraphQLError('Too many requests: the rate limit for this caller is used up; retry later', {
              extensions: { code: ErrorCode.RateLimited, http: { status: 429, headers } },
            });
          }
        },
        async willSendResponse({ response }) {
          if (decision === undefined || !decision.allowed) return;
          for (const [name, value] of rateLimitHeaders(decision, windowSec)) response.http.headers.set(name, value);
        },
      };
    },
  };
}
