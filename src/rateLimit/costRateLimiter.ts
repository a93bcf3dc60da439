import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Logger } from '../common/logger.js';
import { connectRedis, type SharedRedis } from '../common/redis.js';

export interface RateLimitDecision {
  allowed: boolean;
  /** The budget per window. */
  limit: number;
  /** Points left in the current window after this charge (0 when refused). */
  remaining: number;
  /** Seconds until the window resets (at least 1). */
  resetSec: number;
}

export interface CostRateLimiterOptions {
  /** Points per window for one caller. */
  points: number;
  windowSec: number;
  /** Share the budget between gateway replicas through Redis; absent: in this process only. */
  redisUrl?: string | undefined;
  /** Prefix of the Redis keys (lets tests isolate themselves). */
  keyPrefix?: string;
  logger: Logger;
}

export interface CostRateLimiter {
  /**
   * Charges `cost` points to `callerKey`. A charge larger than the whole budget is refused outright. A refused charge
   * counts in its window unless `refundIfRefused` (then the caller keeps what they had).
   */
  consume(callerKey: string, cost: number, options?: { refundIfRefused?: boolean }): Promise<RateLimitDecision>;
  /** Adds points after the fact (work the gateway did that no estimate foresaw); never refuses. */
  penalize(callerKey: string, points: number): Promise<void>;
  /** Closes the Redis connection, if any. */
  close(): Promise<void>;
}

const DEFAULT_KEY_PREFIX = 'gateway:cost';

/**
 * A per-caller budget of points per fixed window, charged by each operation's estimated cost, so that one expensive
 * query weighs as much as many cheap ones. The counting is rate-limiter-flexible's.
 *
 * With `redisUrl` the budget is shared by every replica. When Redis is unreachable the limiter fails open to an
 * in-memory limiter with the same budget: the gateway keeps serving and still refuses floods, though each replica then
 * counts on its own (a caller spread over N replicas gets up to N budgets until Redis is back). Losing the limiter
 * must not take the API down with it. The switch back to Redis is automatic.
 *
 * A refused charge still counts in its window (rate-limiter-flexible increments before it compares, atomically), so a
 * caller that keeps sending over budget stays refused until the window resets. A charge above the whole budget could
 * never pass: it is refused without being counted.
 */
export function createCostRateLimiter(options: CostRateLimiterOptions): CostRateLimiter {
  const { points, windowSec, logger } = options;
  if (!Number.isInteger(points) || points < 1) throw new Error(`rate limit points must be a positive integer (got ${points})`);
  // rate-limiter-flexible gives Redis keys a TTL in whole seconds.
  if (!Number.isInteger(windowSec) || windowSec < 1) throw new Error(`rate limit window must be a whole number of seconds, at least 1 (got ${windowSec})`);
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;

  const local = new RateLimiterMemory({ points, duration: windowSec, keyPrefix });
  let limiter: RateLimiterAbstract = local;
  let redis: SharedRedis | undefined;
  if (options.redisUrl !== undefined) {
    redis = connectRedis(options.redisUrl, logger, {
      onDown: 'Redis is unreachable; rate limits are counted in this process only until it is back',
      onUp: 'Redis is back; rate limits are shared between replicas again',
    });
    limiter = new RateLimiterRedis({
      storeClient: redis.client,
      points,
      duration: windowSec,
      keyPrefix,
      // Skip the round trip while disconnected: the insurance limiter answers at once.
      rejectIfRedisNotReady: true,
      insuranceLimiter: local,
    });
  }

  const refused = (msBeforeNext: number): RateLimitDecision => ({ allowed: false, limit: points, remaining: 0, resetSec: toResetSec(msBeforeNext, windowSec) });

  return {
    async consume(callerKey, cost, consumeOptions = {}) {
      if (!(cost >= 0)) throw new RangeError(`a rate limit charge must be a non-negative number of points (got ${cost})`);
      const charge = Math.ceil(cost);
      if (charge > points) return refused(windowSec * 1000);
      try {
        if (charge === 0) {
          const current = await limiter.get(callerKey);
          if (current === null || current.msBeforeNext <= 0) return { allowed: true, limit: points, remaining: points, resetSec: windowSec };
          return { allowed: true, limit: points, remaining: current.remainingPoints, resetSec: toResetSec(current.msBeforeNext, windowSec) };
        }
        const result = await limiter.consume(callerKey, charge);
        return { allowed: true, limit: points, remaining: result.remainingPoints, resetSec: toResetSec(result.msBeforeNext, windowSec) };
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          if (consumeOptions.refundIfRefused) await limiter.reward(callerKey, charge).catch((error: unknown) => logger.warn({ err: error, callerKey }, 'refunding a refused rate limit charge failed'));
          return refused(rejection.msBeforeNext);
        }
        // Redis failures are answered by the insurance limiter, so this is a bug or something unforeseen. The limiter
        // protects the gateway but is not worth an outage: fail open, as when Redis is down.
        logger.error({ err: rejection, callerKey }, 'the rate limiter failed; the request is allowed without being counted');
        return { allowed: true, limit: points, remaining: points - charge, resetSec: windowSec };
      }
    },
    async penalize(callerKey, points) {
      const charge = Math.ceil(points);
      if (!(charge > 0)) return;
      try {
        await limiter.penalty(callerKey, charge);
      } catch (error) {
        logger.warn({ err: error, callerKey }, 'a rate limit penalty could not be counted');
      }
    },
    async close() {
      await redis?.close();
    },
  };
}

function toResetSec(msBeforeNext: number, windowSec: number): number {
  // rate-limiter-flexible reports -1 for a key without expiry, which a fixed window never has; be safe anyway.
  if (!(msBeforeNext > 0)) return windowSec;
  return Math.max(1, Math.ceil(msBeforeNext / 1000));
}
