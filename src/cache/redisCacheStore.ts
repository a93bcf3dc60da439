import type { Logger } from '../common/logger.js';
import { connectRedis, type SharedRedis } from '../common/redis.js';
import type { CacheStore, memoryCacheStore } from './cacheStore.js';

export interface RedisStoreOptions {
  redisUrl: string;
  /** Prefix of every key (lets tests isolate themselves). */
  keyPrefix: string;
  /** Answers while Redis is away: this process's own store. */
  fallback: ReturnType<typeof memoryCacheStore>;
  logger: Logger;
  onEvicted?: (reason: 'mutation', count: number) => void;
}

/**
 * The cache in Redis, shared by every replica: an entry is `SET key {versions, body} EX maxAge`, a type's version
 * is `INCR <prefix>:v:<Type>`. A lookup reads the entry and the versions of its types in one MGET, so a hit costs one
 * round trip and a mutation's eviction one INCR per type, whatever the number of entries.
 *
 * While Redis is away, the process's own store answers (the fallback), and mutations bump both. The types a mutation
 * changed during the outage are bumped in Redis once it is back (other replicas may hold answers from before), and
 * the fallback is emptied then, so that the next outage does not start from answers older than the mutations it missed.
 */
export function redisCacheStore(options: RedisStoreOptions): CacheStore {
  const { fallback, keyPrefix } = options;
  const missed = new Set<string>();
  const versionKey = (type: string) => `${keyPrefix}:v:${type}`;
  const redis: SharedRedis = connectRedis(options.redisUrl, options.logger, {
    onDown: 'Redis is unreachable; public answers are cached in this process only until it is back',
    onUp: 'Redis is back; public answers are cached for every replica again',
    onBack: () => {
      fallback.clear();
      const types = [...missed];
      missed.clear();
      if (types.length > 0) {
        bump(types).catch((error: unknown) => {
          for (const type of types) missed.add(type);
          options.logger.warn({ err: error }, 'the cache could not tell Redis of mutations made while it was away: they are retried when it is back again');
        });
      }
    },
  });

  // Called only once `redis` is set: ioredis reports its first connection on a later tick at the earliest.
  async function bump(types: readonly string[]): Promise<void> {
    const pipeline = redis.client.pipeline();
    for (const type of types) pipeline.incr(versionKey(type));
    const results = await pipeline.exec();
    if (results?.some(([error]) => error !== null)) throw new Error('a cache version could not be bumped in Redis');
  }

  return {
    async lookup(key, types) {
      if (!redis.ready()) return fallback.lookup(key, types);
      let values: (string | null)[];
      try {
        values = await redis.client.mget(key, ...types.map(versionKey));
      } catch {
        return fallback.lookup(key, types);
      }
      const [raw, ...stored] = values;
      const now = stored.map((value) => (value === null ? 0 : Number(value)));
      if (raw === null || raw === undefined) return { hit: false, versions: now };
      const entry = parseEntry(raw);
      if (entry === undefined || entry.v.length !== now.length || entry.v.some((version, index) => version !== now[index])) {
        options.onEvicted?.('mutation', 1);
        redis.client.del(key).catch(() => undefined);
        return { hit: false, versions: now };
      }
      return { hit: true, body: entry.b };
    },
    async store(key, body, ttlSec, miss) {
      // Versions read from the fallback are this process's, not Redis's: such an answer stays here.
      if (miss.local === true || !redis.ready()) return fallback.store(key, body, ttlSec, miss);
      try {
        await redis.client.set(key, JSON.stringify({ v: miss.versions, b: body }), 'EX', ttlSec);
      } catch {
        // Not kept: the next request fetches again.
      }
    },
    async changed(types) {
      await fallback.changed(types);
      if (!redis.ready()) {
        for (const type of types) missed.add(type);
        return;
      }
      try {
        await bump(types);
      } catch {
        for (const type of types) missed.add(type);
      }
    },
    clear() {
      // Redis keys carry the supergraph's hash: another supergraph reads other keys, and these expire.
      fallback.clear();
    },
    async close() {
      await redis.close();
    },
  };
}

function parseEntry(raw: string): { v: number[]; b: string } | undefined {
  try {
    const entry = JSON.parse(raw) as { v?: unknown; b?: unknown };
    return Array.isArray(entry.v) && typeof entry.b === 'string' ? { v: entry.v as number[], b: entry.b } : undefined;
  } catch {
    return undefined;
  }
}
