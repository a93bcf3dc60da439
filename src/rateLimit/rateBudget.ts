import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { Principal } from '../auth/principal.js';
import { ErrorCode } from '../errors.js';
import type { CostRateLimiter, RateLimitDecision } from './costRateLimiter.js';

/** The caller a budget belongs to: the token's subject, else the client's address. */
export function rateLimitKey(principal: Principal, clientIp: string): string {
  return principal.kind === 'user' ? `user:${principal.subject}` : `ip:${clientIp}`;
}

/**
 * How a request is charged, in three steps, so that only work the gateway does costs points:
 * 1. `admit`, before anything is parsed: one point. A caller whose budget is spent is refused here, at no cost.
 * 2. `chargeExecution`, once the operation passed every limit and the access policy and is about to run: the rest
 *    of its estimated cost. Refused, it is not counted: a request refused before it runs has cost one point, plus
 *    one for each lookup the access rules made to decide (`chargeLookups`: an entity fetched, as the cost model
 *    prices an object).
 * 3. `chargePlan`, after the gateway had to plan the operation (its plan was not cached): planning a new document
 *    costs CPU that the estimate does not see.
 */
export interface RateBudget {
  admit(caller: string): Promise<RateLimitDecision>;
  /** Charges the estimate less the admission point; undefined when nothing was left to charge. */
  chargeExecution(caller: string, cost: number): Promise<RateLimitDecision | undefined>;
  chargePlan(caller: string): void;
  /** Charges the subgraph lookups access rules made for a request the policy refused. */
  chargeLookups(caller: string, lookups: number): void;
  /** The RateLimit-* headers of a decision (draft-ietf-httpapi-ratelimit-headers). */
  headers(decision: RateLimitDecision): [string, string][];
  /** The 429 for a refused decision, with Retry-After and the RateLimit-* headers. */
  refusal(decision: RateLimitDecision): GraphQLError;
}

export function createRateBudget(limiter: CostRateLimiter, options: { windowSec: number; planMissPoints: number }): RateBudget {
  const headers = (decision: RateLimitDecision): [string, string][] => [
    ['ratelimit-limit', String(decision.limit)],
    ['ratelimit-remaining', String(decision.remaining)],
    ['ratelimit-reset', String(decision.resetSec)],
    ['ratelimit-policy', `${decision.limit};w=${options.windowSec}`],
  ];
  return {
    admit: (caller) => limiter.consume(caller, 1),
    async chargeExecution(caller, cost) {
      // Every operation costs at least its admission point: one that selects nothing costly still reached the gateway.
      const rest = Math.max(1, Math.ceil(cost)) - 1;
      if (rest === 0) return undefined;
      return limiter.consume(caller, rest, { refundIfRefused: true });
    },
    chargePlan(caller) {
      if (options.planMissPoints > 0) void limiter.penalize(caller, options.planMissPoints);
    },
    chargeLookups(caller, lookups) {
      if (lookups > 0) void limiter.penalize(caller, lookups);
    },
    headers,
    refusal(decision) {
      return new GraphQLError('Too many requests: the rate limit for this caller is used up; retry later', {
        extensions: { code: ErrorCode.RateLimited, http: { status: 429, headers: new HeaderMap([...headers(decision), ['retry-after', String(decision.resetSec)]]) } },
      });
    },
  };
}
