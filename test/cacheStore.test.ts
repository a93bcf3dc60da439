import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { Redis } from 'ioredis';
import { redisServer, type RedisServer } from './redisServer.js';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheHints } from '../src/cache/cacheHints.js';
import { createPublicData } from '../src/cache/publicData.js';
import { memoryCacheStore, type CacheMiss, type CacheStore, type EvictionReason } from '../src/cache/cacheStore.js';
import { redisCacheStore } from '../src/cache/redisCacheStore.js';
import { createLogger } from '../src/common/logger.js';
import { COMMITTED_SUPERGRAPH, logCollector, waitFor } from './harness.js';

const miss = async (store: CacheStore, key: string, types: readonly string[]): Promise<CacheMiss> => {
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

describe('the Redis cache store while its Redis stops and comes back', () => {
  const servers: RedisServer[] = [];
  const stores: CacheStore[] = [];

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('answers from the process while Redis is away, then tells Redis what changed meanwhile and empties the fallback', async () => {
    const redis = await redisServer();
    servers.push(redis);
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', destination: logCollector(lines) });
    const keyPrefix = `test:cache-store:${randomUUID()}`;
    const fallback = memoryCacheStore({ maxEntries: 10, maxMiB: 1 });
    await redis.start();
    const store = redisCacheStore({ redisUrl: redis.url, keyPrefix, fallback, logger });
    stores.push(store);
    const direct = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    direct.on('error', () => undefined);
    try {
      // Until the store has connected, what it keeps stays in the process: store until Redis holds it.
      await waitFor(async () => {
        const found = await store.lookup(`${keyPrefix}:a`, ['Product']);
        if (!found.hit) await store.store(`${keyPrefix}:a`, 'shared', 60, found);
        return (await direct.get(`${keyPrefix}:a`).catch(() => null)) !== null;
      });
      const said = (start: string) => lines.filter((line) => String(line['msg']).startsWith(start)).length;
      const outages = said('Redis is unreachable; public answers');
      const recoveries = said('Redis is back; public answers');
      expect(await store.lookup(`${keyPrefix}:a`, ['Product'])).toEqual({ hit: true, body: 'shared' });

      await redis.stop();
      await waitFor(() => said('Redis is unreachable; public answers') > outages);
      await store.store(`${keyPrefix}:b`, 'local', 60, await miss(store, `${keyPrefix}:b`, ['Product']));
      expect(await store.lookup(`${keyPrefix}:b`, ['Product'])).toEqual({ hit: true, body: 'local' });
      await store.changed(['Product']);
      expect((await store.lookup(`${keyPrefix}:b`, ['Product'])).hit).toBe(false);

      await redis.start();
      await waitFor(() => said('Redis is back; public answers') > recoveries);
      await waitFor(async () => (await direct.get(`${keyPrefix}:v:Product`).catch(() => null)) === '1');
      expect((await fallback.lookup(`${keyPrefix}:b`, [])).hit).toBe(false);
      expect(said('Redis is unreachable; public answers')).toBe(outages + 1);
    } finally {
      direct.disconnect();
    }
  });
});

describe('a mutation whose reach is unknown, on another replica', () => {
  it('evicts what any replica cached, though this one never fetched those types', async () => {
    // Two replicas' public data over one store (as over one Redis): `first` caches a review; `second` has never
    // decided a public fetch when a mutation answering a Boolean goes through it.
    const hints = cacheHints(parse(readFileSync(COMMITTED_SUPERGRAPH, 'utf8')));
    const store = memoryCacheStore({ maxEntries: 10, maxMiB: 1 });
    const [first, second] = [0, 1].map(() => createPublicData({ store, keyPrefix: 'test' }));
    const sdl = readFileSync(COMMITTED_SUPERGRAPH, 'utf8');
    first!.prepare({ sdl, hints });
    second!.prepare({ sdl, hints });
    const fetch = '{ _entities(representations: []) { ... on Product { reviews { body } } } }';
    const decision = first!.decide(fetch);
    if (decision.kind !== 'public') throw new Error(`${fetch} is ${decision.kind}`);
    const key = first!.key('reviews', fetch, {}, {});
    const found = await first!.lookup(key, decision);
    if (found === undefined || found.hit) throw new Error('expected a miss');
    await first!.store(key, '{"data":{}}', decision.policy, found);
    expect((await first!.lookup(key, decision))?.hit).toBe(true);

    const mutation = second!.decide('mutation { deleteReview(id: "1") }');
    expect(mutation).toEqual({ kind: 'mutation', types: 'all' });
    await second!.changed('all');
    expect((await first!.lookup(key, decision))?.hit).toBe(false);
  });

  it('evicts a root scalar on any mutation, and a type\'s answers only on a mutation naming it', async () => {
    // A graph with a public root scalar, which depends on no type its fetch names.
    const sdl = 'type Query { reviewCount: Int @cacheControl(maxAge: 60) book: Book } type Book @cacheControl(maxAge: 60) { title: String } type Review { body: String } type Mutation { addReview: Review rename: Book }';
    const store = memoryCacheStore({ maxEntries: 10, maxMiB: 1 });
    const data = createPublicData({ store, keyPrefix: 'test' });
    data.prepare({ sdl, hints: cacheHints(parse(sdl)) });
    const cached = async (fetch: string) => {
      const decision = data.decide(fetch);
      if (decision.kind !== 'public') throw new Error(`${fetch} is ${decision.kind}`);
      const key = data.key('reviews', fetch, {}, {});
      const found = await data.lookup(key, decision);
      if (found !== undefined && !found.hit) await data.store(key, '{"data":{}}', decision.policy, found);
      return async () => (await data.lookup(key, decision))?.hit;
    };
    const count = await cached('{ reviewCount }');
    const book = await cached('{ book { title } }');
    expect([await count(), await book()]).toEqual([true, true]);
    const addReview = data.decide('mutation { addReview { body } }');
    if (addReview.kind !== 'mutation') throw new Error('expected a mutation');
    await data.changed(addReview.types);
    expect([await count(), await book()]).toEqual([false, true]);
  });
});
