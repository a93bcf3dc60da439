import { describe, expect, it } from 'vitest';
import { memoryCacheStore, type CacheMiss, type EvictionReason } from '../src/cache/cacheStore.js';

const miss = async (store: ReturnType<typeof memoryCacheStore>, key: string, types: readonly string[]): Promise<CacheMiss> => {
  const found = await store.lookup(key, types);
  if (found.hit) throw new Error(`${key} was a hit`);
  return found;
};

describe('the in-memory cache store', () => {
  it('answers what it keeps until a type it depends on changes, and only those entries', async () => {
    const evicted: EvictionReason[] = [];
    const store = memoryCacheStore({ maxEntries: 10, maxMiB: 1, onEvicted: (reason) => evicted.push(reason) });
    await store.store('products', '{"data":1}', 60, await miss(store, 'products', ['Product']));
    await store.store('reviews', '{"data":2}', 60, await miss(store, 'reviews', ['Product', 'Review']));
    await store.store('users', '{"data":3}', 60, await miss(store, 'users', ['User']));
    expect(await store.lookup('products', ['Product'])).toEqual({ hit: true, body: '{"data":1}' });

    await store.changed(['Review']);
    expect((await store.lookup('reviews', ['Product', 'Review'])).hit).toBe(false);
    expect((await store.lookup('products', ['Product'])).hit).toBe(true);
    expect((await store.lookup('users', ['User'])).hit).toBe(true);
    expect(evicted).toEqual(['mutation']);
  });

  it('keeps an answer fetched while a mutation ran stale: its versions were read before the fetch', async () => {
    const store = memoryCacheStore({ maxEntries: 10, maxMiB: 1 });
    const before = await miss(store, 'price', ['Product']);
    await store.changed(['Product']);
    await store.store('price', '{"old":true}', 60, before);
    expect((await store.lookup('price', ['Product'])).hit).toBe(false);
  });

  it('drops the least recently used entry past its bound, and everything on clear, counting each', async () => {
    const evicted: [EvictionReason, number][] = [];
    const store = memoryCacheStore({ maxEntries: 2, maxMiB: 1, onEvicted: (reason, count) => evicted.push([reason, count]) });
    for (const key of ['a', 'b', 'c']) await store.store(key, 'x', 60, await miss(store, key, []));
    expect((await store.lookup('a', [])).hit).toBe(false);
    expect((await store.lookup('c', [])).hit).toBe(true);
    store.clear();
    expect((await store.lookup('c', [])).hit).toBe(false);
    expect(evicted).toEqual([['capacity', 1], ['supergraph', 2]]);
  });
});
