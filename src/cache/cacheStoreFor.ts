import type { Logger } from '../common/logger.js';
import type { CacheConfig } from '../config/index.js';
import { memoryCacheStore, type CacheStore, type EvictionReason } from './cacheStore.js';
import { redisCacheStore } from './redisCacheStore.js';

/** The store the cache settings ask for; undefined for `off`. */
export function cacheStoreFor(config: CacheConfig, dependencies: { logger: Logger; onEvicted?: (reason: EvictionReason, count: number) => void }): CacheStore | undefined {
  switch (config.mode) {
    case 'off':
      return undefined;
    case 'memory':
      return memoryCacheStore({ maxEntries: config.maxEntries, maxMiB: config.maxMiB, ...(dependencies.onEvicted ? { onEvicted: dependencies.onEvicted } : {}) });
    case 'redis': {
      const fallback = memoryCacheStore({ maxEntries: config.maxEntries, maxMiB: config.maxMiB, ...(dependencies.onEvicted ? { onEvicted: dependencies.onEvicted } : {}) });
      return redisCacheStore({ redisUrl: config.redisUrl, keyPrefix: config.keyPrefix, fallback, logger: dependencies.logger, ...(dependencies.onEvicted ? { onEvicted: dependencies.onEvicted } : {}) });
    }
    default: {
      const unknown: never = config;
      throw new Error(`unknown cache mode ${JSON.stringify(unknown)}`);
    }
  }
}
