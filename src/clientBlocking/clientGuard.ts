import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../common/logger.js';
import type { SharedRedis } from '../common/redis.js';
import { blockKeys, createBlockList, type Block, type BlockList } from './blockList.js';
import { clientKeyOf, createAllowlist, type AllowlistOptions } from './clientIdentity.js';
import { COUNTED_ONCE_WHEN_REPEATED, type SuspicionSignal } from './signals.js';

export interface ClientGuardOptions {
  /** `enforce` blocks; `audit` only logs the blocks it would make (to tune the weights before enforcing). */
  mode: 'audit' | 'enforce';
  /** The score at which a client is blocked. */
  threshold: number;
  /** How long a signal weighs: fully within its window, then less and less over the next (a sliding window). */
  decayWindowSec: number;
  /** The cooldown of a client's first, second, … block within `repeatMemorySec`; the last repeats. */
  cooldownsSec: readonly number[];
  /** How long a block is remembered for the next one's cooldown. */
  repeatMemorySec: number;
  weights: Readonly<Record<SuspicionSignal, number>>;
  allowlist: AllowlistOptions;
  /** Shares scores and blocks between replicas; absent, this process keeps its own. */
  redis?: SharedRedis | undefined;
  /** Prefix of the Redis keys (`<prefix>:suspicion:…`, `<prefix>:blocks:…`). */
  keyPrefix: string;
  logger: Logger;
  /** Told of each block this replica makes, with its reason (the signal that weighed most). */
  onBlock?: (reason: SuspicionSignal) => void;
}

export interface ClientGuard {
  /**
   * The block on this request's client, if any: decided in memory, so a blocked client costs a map lookup. An
   * allowlisted client is never blocked.
   */
  blocked(principal: Principal, clientIp: string): Block | undefined;
  /**
   * Counts what a request did against its client. Callers need not wait: the promise (which never rejects) settles
   * once the score is kept (in Redis, when shared) and any block decided.
   *
   * `repeatOf` names what the request sent (its document's hash, its token's): for the signals of
   * `COUNTED_ONCE_WHEN_REPEATED`, the same thing sent again counts once per decay window (on each replica).
   */
  note(principal: Principal, clientIp: string, signal: SuspicionSignal, repeatOf?: string): Promise<void>;
  /** Clients blocked now. */
  blockedCount(): number;
  close(): Promise<void>;
}

/** Clients whose recent signals this replica remembers for the log line of a block, at most. */
const MAX_REMEMBERED_CLIENTS = 10_000;
/** Signals remembered per client, at most (the score itself counts them all). */
const MAX_REMEMBERED_SIGNALS = 100;

/**
 * Suspicion scoring and blocking, fail2ban's idea for an API: each request that does what well-behaved clients do not
 * (see signals.ts) adds its weight to its client's score; scores decay; a client whose score reaches the threshold is
 * blocked for a cooldown that grows when it comes back to it (1 min, 10 min, 1 h by default).
 *
 * The counting is rate-limiter-flexible's: a score is the points of a sliding window of two fixed ones (the current
 * window's, plus the previous window's in proportion to how much of it still overlaps), so that a signal fades out
 * over one to two windows rather than vanishing at a boundary; strikes are points over `repeatMemorySec`; a block is
 * its `block`. With Redis these are shared by every replica, and each falls back to memory while Redis is away.
 */
export async function createClientGuard(options: ClientGuardOptions): Promise<ClientGuard> {
  const { threshold, decayWindowSec, logger } = options;
  const keys = blockKeys(options.keyPrefix);
  const windowMs = decayWindowSec * 1000;
  const limiter = (keyPrefix: string, duration: number): RateLimiterAbstract => {
    // Penalties never refuse; `points` matters to no call made here.
    const memory = new RateLimiterMemory({ points: 1, duration, keyPrefix });
    if (options.redis === undefined) return memory;
    return new RateLimiterRedis({ storeClient: options.redis.client, points: 1, duration, keyPrefix, rejectIfRedisNotReady: true, insuranceLimiter: memory });
  };
  // A window's points must outlive the next window, which still reads them.
  const scores = limiter(keys.scores, 2 * decayWindowSec);
  const strikes = limiter(keys.strikes, options.repeatMemorySec);
  const blocks: BlockList = await createBlockList({ redis: options.redis, keyPrefix: options.keyPrefix, logger });
  const allowlisted = createAllowlist(options.allowlist);
  const recent = new Map<string, { signal: SuspicionSignal; atMs: number; repeatOf: string | undefined }[]>();
  /** Clients whose block is being decided, so that two signals at once make one block. */
  const deciding = new Set<string>();

  const seenBefore = (client: string, signal: SuspicionSignal, repeatOf: string | undefined, atMs: number) =>
    repeatOf !== undefined && COUNTED_ONCE_WHEN_REPEATED.has(signal) && (recent.get(client) ?? []).some((entry) => entry.repeatOf === repeatOf && entry.signal === signal && entry.atMs >= atMs - windowMs);
  const remember = (client: string, signal: SuspicionSignal, repeatOf: string | undefined, atMs: number) => {
    let list = recent.get(client);
    if (list === undefined) {
      if (recent.size >= MAX_REMEMBERED_CLIENTS) recent.delete(recent.keys().next().value as string);
      list = [];
    } else {
      recent.delete(client);
    }
    // Map order is insertion order: re-inserting keeps the most recently active clients.
    recent.set(client, list);
    list.push({ signal, atMs, repeatOf });
    while (list.length > MAX_REMEMBERED_SIGNALS || (list[0] !== undefined && list[0].atMs < atMs - 2 * windowMs)) list.shift();
  };
  const makeup = (client: string) => {
    const counts: Partial<Record<SuspicionSignal, number>> = {};
    for (const { signal } of recent.get(client) ?? []) counts[signal] = (counts[signal] ?? 0) + 1;
    return counts;
  };
  const heaviest = (counts: Partial<Record<SuspicionSignal, number>>, fallback: SuspicionSignal): SuspicionSignal => {
    let best = fallback;
    let weight = -1;
    for (const [signal, count] of Object.entries(counts) as [SuspicionSignal, number][]) {
      if (count * options.weights[signal] > weight) [best, weight] = [signal, count * options.weights[signal]];
    }
    return best;
  };

  const score = async (client: string, points: number, nowMs: number): Promise<number> => {
    const window = Math.floor(nowMs / windowMs);
    const overlap = 1 - (nowMs - window * windowMs) / windowMs;
    const [current, previous] = await Promise.all([scores.penalty(`${client}:${window}`, points), scores.get(`${client}:${window - 1}`)]);
    return current.consumedPoints + (previous?.consumedPoints ?? 0) * overlap;
  };

  const decide = async (client: string, signal: SuspicionSignal, repeatOf: string | undefined) => {
    const nowMs = Date.now();
    if (seenBefore(client, signal, repeatOf, nowMs)) return;
    remember(client, signal, repeatOf, nowMs);
    const weight = options.weights[signal];
    const total = await score(client, weight, nowMs);
    // Only the signal whose own (atomic) increment crossed the threshold decides: two replicas that count a signal
    // each at the moment of crossing make one block, not two (which would also count as a repeat).
    if (total < threshold || total - weight >= threshold || deciding.has(client) || blocks.get(client) !== undefined) return;
    deciding.add(client);
    try {
      const counts = makeup(client);
      const reason = heaviest(counts, signal);
      const window = Math.floor(nowMs / windowMs);
      // A block starts the client afresh: after its cooldown, what it did before no longer counts.
      await Promise.all([scores.delete(`${client}:${window}`), scores.delete(`${client}:${window - 1}`)]);
      recent.delete(client);
      const details = { client, reason, score: Math.round(total), threshold, signals: counts, signalsSeenBy: 'this replica' };
      if (options.mode === 'audit') {
        logger.warn({ ...details, cooldownSec: options.cooldownsSec[0] }, 'a client would be blocked (CLIENT_BLOCKING=audit)');
        return;
      }
      const strike = (await strikes.penalty(client, 1)).consumedPoints;
      const cooldownSec = options.cooldownsSec[Math.min(strike, options.cooldownsSec.length) - 1] ?? options.cooldownsSec[0] ?? 60;
      await blocks.add({ client, reason, strikes: strike }, cooldownSec);
      options.onBlock?.(reason);
      logger.warn({ ...details, strikes: strike, cooldownSec }, 'a client is blocked');
    } finally {
      deciding.delete(client);
    }
  };

  return {
    blocked(principal, clientIp) {
      // Every request asks: with nobody blocked, the answer costs no key and no allowlist check.
      if (blocks.empty() || allowlisted(principal, clientIp)) return undefined;
      return blocks.get(clientKeyOf(principal, clientIp));
    },
    async note(principal, clientIp, signal, repeatOf) {
      if (options.weights[signal] <= 0 || allowlisted(principal, clientIp)) return;
      const client = clientKeyOf(principal, clientIp);
      await decide(client, signal, repeatOf).catch((error: unknown) => logger.warn({ err: error, client, signal }, 'a suspicion signal could not be counted'));
    },
    blockedCount: () => blocks.size(),
    close: () => blocks.close(),
  };
}
