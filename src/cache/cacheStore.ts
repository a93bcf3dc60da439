import { LRUCache } from 'lru-cache';

/**
 * Where answers of public fetches are kept. Every entry records, for each type it depends on, that type's version
 * when its fetch started; a mutation that changes a type bumps its version, so every entry that depends on it is stale
 * from then on (and is dropped when next read). One bump evicts any number of entries, in memory as in Redis.
 */
export interface CacheStore {
  /**
   * The answer kept under `key`, unless it expired or one of `types` changed since; else the versions of `types` now,
   * to store a fresh answer with (read before the fetch, so a mutation during it makes that answer stale too).
   */
  lookup(key: string, types: readonly string[]): Promise<CacheLookup>;
  /** Keeps an answer for `ttlSec`, with what its lookup said (in the store that answered it). */
  store(key: string, body: string, ttlSec: number, miss: CacheMiss): Promise<void>;
  /** The types a mutation changed: every entry that depends on one is stale. */
  changed(types: readonly string[]): Promise<void>;
  /** Drops everything (a new supergraph). */
  clear(): void;
  close(): Promise<void>;
}

export type CacheMiss = { readonly hit: false; readonly versions: readonly number[]; /** Answered by the fallback in this process. */ readonly local?: true };
export type CacheLookup = { readonly hit: true; readonly body: string } | CacheMiss;

export type EvictionReason = 'mutation' | 'supergraph' | 'capacity';

export interface MemoryStoreOptions {
  maxEntries: number;
  maxMiB: number;
  onEvicted?: (reason: EvictionReason, count: number) => void;
}

interface Entry {
  body: string;
  versions: readonly number[];
}

/**
 * A bounded LRU in this process (lru-cache: entries, approximate bytes and TTL in one structure, the library Apollo
 * Server itself uses). Sizes count a body's characters: approximate, as Apollo's own caches measure.
 */
export function memoryCacheStore(options: MemoryStoreOptions): CacheStore & { versionsOf(types: readonly string[]): number[] } {
  const versions = new Map<string, number>();
  let clearing = false;
  const entries = new LRUCache<string, Entry>({
    max: options.maxEntries,
    maxSize: options.maxMiB * 2 ** 20,
    sizeCalculation: (entry, key) => Math.max(1, entry.body.length + key.length),
    // A capacity eviction makes room for a new entry; an expiry or a replacement is no eviction.
    dispose: (_entry, _key, reason) => {
      if (reason === 'evict' && !clearing) options.onEvicted?.('capacity', 1);
    },
  });
  const versionsOf = (types: readonly string[]) => types.map((type) => versions.get(type) ?? 0);

  return {
    versionsOf,
    async lookup(key, types) {
      const now = versionsOf(types);
      const entry = entries.get(key);
      if (entry === undefined) return { hit: false, versions: now, local: true };
      if (entry.versions.some((version, index) => version !== now[index])) {
        entries.delete(key);
        options.onEvicted?.('mutation', 1);
        return { hit: false, versions: now, local: true };
      }
      return { hit: true, body: entry.body };
    },
    async store(key, body, ttlSec, miss) {
      entries.set(key, { body, versions: miss.versions }, { ttl: ttlSec * 1000 });
    },
    async changed(types) {
      for (const type of types) versions.set(type, (versions.get(type) ?? 0) + 1);
    },
    clear() {
      const count = entries.size;
      clearing = true;
      entries.clear();
      clearing = false;
      if (count > 0) options.onEvicted?.('supergraph', count);
    },
    async close() {
      entries.clear();
    },
  };
}
