import { readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { decodeJwt } from 'jose';
import { or } from 'graphql-shield';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRole, ownedBy } from '../src/index.js';
import { policies, ruleTree } from '../gateway.config.js';
import { startStack, waitFor, type Stack, type SubgraphName } from './harness.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

/** The `sub` of the token the gateway sent with a subgraph's last request: who the subgraph thinks asked. */
function subjectSeenBy(stack: Stack, subgraph: SubgraphName): string | undefined {
  const authorization = stack.subgraphs[subgraph].counter.lastHeaders['authorization'] ?? '';
  return decodeJwt(authorization.replace(/^Bearer /, '')).sub;
}

/** A proxy in front of a subgraph that, while `failing`, answers every request with a GraphQL error of its own. */
async function failingProxy(target: string): Promise<{ url: string; failing: boolean; close(): void }> {
  const server = createServer((incoming, outgoing) => {
    if (proxy.failing) {
      incoming.resume();
      outgoing.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { topProducts: null }, errors: [{ message: 'the catalogue is being rebuilt' }] }));
      return;
    }
    const forward = httpRequest(target, { method: incoming.method, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    });
    forward.on('error', () => outgoing.destroy());
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    failing: false,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
  return proxy;
}

describe('public data: shared between callers, cached for its maxAge (CACHE_MODE=memory)', () => {
  let stack: Stack;
  let proxy: Awaited<ReturnType<typeof failingProxy>>;
  const products = () => stack.subgraphs.products.counter.received;

  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE_MODE: 'memory' },
      through: {
        products: async (url) => {
          proxy = await failingProxy(url);
          return proxy;
        },
      },
    });
  });
  afterAll(() => stack.stop());

  it('sends a public fetch as the anonymous caller, and a private one as the caller', async () => {
    const headers = await stack.as({ subject: '3' });
    expect((await stack.query('{ topProducts(first: 1) { name } }', { headers })).body).toEqual({ data: { topProducts: [{ name: 'Table' }] } });
    expect(subjectSeenBy(stack, 'products')).toBeUndefined();
    // The cache versions the fetch carried to the fetcher (for in-flight sharing) never reach the subgraph.
    expect(Object.keys(stack.subgraphs.products.counter.lastHeaders).filter((name) => name.startsWith('x-gateway'))).toEqual([]);
    expect((await stack.query('{ me { name } }', { headers })).body).toEqual({ data: { me: { name: 'Grace Hopper' } } });
    expect(subjectSeenBy(stack, 'accounts')).toBe('3');
  });

  it('answers every caller\'s identical public fetch from the cache', async () => {
    const before = products();
    for (const subject of ['1', '2', '4']) {
      const answer = await stack.query('{ topProducts(first: 2) { upc name } }', { headers: await stack.as({ subject }) });
      expect(answer.body).toEqual({ data: { topProducts: [{ upc: '1', name: 'Table' }, { upc: '2', name: 'Couch' }] } });
    }
    expect((await stack.query('{ topProducts(first: 2) { upc name } }')).status).toBe(200);
    expect(products() - before).toBe(1);
  });

  it('keeps no answer that carries errors', async () => {
    const query = '{ topProducts(first: 5) { price } }';
    proxy.failing = true;
    try {
      expect((await stack.query(query)).body.errors).toHaveLength(1);
    } finally {
      proxy.failing = false;
    }
    const before = products();
    expect((await stack.query(query)).body).toEqual({ data: { topProducts: [{ price: 899 }, { price: 1299 }, { price: 54 }, { price: 129 }, { price: 549 }] } });
    expect(products() - before).toBe(1);
  });

  it('evicts what a mutation names: a new price and a new review are seen at once', async () => {
    const price = '{ product(upc: "3") { price reviews { body } } }';
    const first = await stack.query(price);
    expect(first.body.data).toMatchObject({ product: { price: 54 } });
    await stack.query(price);
    const before = products();
    const admin = await stack.as({ subject: '6', roles: ['admin'] });
    expect((await stack.query('mutation { updatePrice(upc: "3", price: 60) { price } }', { headers: admin })).body).toEqual({ data: { updatePrice: { price: 60 } } });
    expect((await stack.query(price)).body.data).toMatchObject({ product: { price: 60 } });
    // The mutation itself, and the fetch it made stale.
    expect(products() - before).toBe(2);

    const author = await stack.as({ subject: '5' });
    expect((await stack.query('mutation { createReview(upc: "3", body: "Wobbly.", rating: 2) { id } }', { headers: author })).status).toBe(200);
    const reviews = ((await stack.query(price)).body.data?.['product'] as { reviews: { body: string }[] }).reviews;
    expect(reviews.map((review) => review.body)).toContain('Wobbly.');
  });

  it('empties the cache when a mutation names no type (deleteReview answers a Boolean)', async () => {
    const query = '{ product(upc: "1") { reviews { id } } }';
    const ids = async () => ((await stack.query(query)).body.data?.['product'] as { reviews: { id: string }[] }).reviews.map((review) => review.id);
    const admin = await stack.as({ subject: '6', roles: ['admin'] });
    const created = await stack.query('mutation { createReview(upc: "1", body: "Gone soon.", rating: 3) { id } }', { headers: admin });
    const id = (created.body.data?.['createReview'] as { id: string }).id;
    expect(await ids()).toContain(id);
    expect((await stack.query(`mutation { deleteReview(id: "${id}") }`, { headers: admin })).body).toEqual({ data: { deleteReview: true } });
    expect(await ids()).not.toContain(id);
  });

  it.each([
    ['a public operation, anonymous', '{ topProducts(first: 1) { name } }', undefined, 'max-age=60, public'],
    ['the least maxAge of its fields', '{ topProducts(first: 1) { name inStock } }', undefined, 'max-age=10, public'],
    ['a public operation, signed in: private', '{ topProducts(first: 1) { name } }', { subject: '2' }, 'max-age=60, private'],
    ['a PRIVATE field', '{ me { name } }', { subject: '2' }, 'max-age=60, private'],
    ['an answer with errors (a field denied)', '{ user(id: "1") { email } }', undefined, 'no-store'],
    ['a mutation', 'mutation { createReview(upc: "2", body: "Fine.", rating: 4) { id } }', { subject: '2' }, 'no-store'],
  ])('sends Cache-Control as Apollo Server computes it from the hints: %s', async (_case, query, caller, expected) => {
    const answer = await stack.query(query, caller === undefined ? {} : { headers: await stack.as(caller) });
    expect(answer.headers.get('cache-control')).toBe(expected);
    if (expected !== 'no-store') expect(answer.headers.get('vary')).toContain('authorization');
  });

  it('counts hits and misses', async () => {
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_cache_requests_total\{result="hit"\} [1-9]/);
    expect(metrics).toMatch(/gateway_cache_requests_total\{result="miss"\} [1-9]/);
    expect(metrics).toMatch(/gateway_cache_evictions_total\{reason="mutation"\} [1-9]/);
  });

  it('empties the cache when the supergraph changes', async () => {
    const query = '{ topProducts(first: 4) { name } }';
    await stack.query(query);
    const before = products();
    await stack.query(query);
    expect(products() - before).toBe(0);
    const reloads = stack.reloads.length;
    const dropped = async () => Number(/gateway_cache_evictions_total\{reason="supergraph"\} (\d+)/.exec(await (await fetch(`${stack.url}/metrics`)).text())?.[1] ?? 0);
    const droppedBefore = await dropped();
    const sdl = await readFile(stack.supergraphPath, 'utf8');
    await writeFile(`${stack.supergraphPath}.next`, `${sdl}\n"A supergraph that differs."\nscalar Touched\n`);
    await rename(`${stack.supergraphPath}.next`, stack.supergraphPath);
    await waitFor(() => stack.reloads.length > reloads);
    expect(stack.reloads.at(-1)?.ok).toBe(true);
    // Dropped, not merely unreachable (the keys name the supergraph they were fetched for): nothing old stays in memory.
    expect(await dropped()).toBeGreaterThan(droppedBefore);
    await stack.query(query);
    expect(products() - before).toBe(1);
  });
});

describe('authorization applies to cached answers as to fresh ones', () => {
  let stack: Stack;

  beforeAll(async () => {
    // A product's name is for admins and for the user whose id is its upc: decided on the data, after the plan ran.
    const demo = ruleTree as Record<string, Record<string, unknown>>;
    const policy = { ruleTree: { ...demo, Product: { ...demo['Product'], name: or(hasRole('admin'), ownedBy('upc')) } } as typeof ruleTree, policies };
    stack = await startStack({ env: { CACHE_MODE: 'memory' }, policy });
  });
  afterAll(() => stack.stop());

  it('never shows a caller a field of a cached answer that the policy denies them', async () => {
    const query = '{ topProducts(first: 3) { upc name } }';
    const first = await stack.query(query, { headers: await stack.as({ subject: '1' }) });
    expect(first.body.data).toEqual({ topProducts: [{ upc: '1', name: 'Table' }, { upc: '2', name: null }, { upc: '3', name: null }] });
    const before = stack.subgraphs.products.counter.received;

    // Served from the cache (which holds every name), filtered for this caller.
    const second = await stack.query(query, { headers: await stack.as({ subject: '2' }) });
    expect(stack.subgraphs.products.counter.received - before).toBe(0);
    expect(second.body.data).toEqual({ topProducts: [{ upc: '1', name: null }, { upc: '2', name: 'Couch' }, { upc: '3', name: null }] });
    expect(second.body.errors?.map((error) => [error.path, error.extensions?.['code']])).toEqual([
      [['topProducts', 0, 'name'], 'FORBIDDEN'],
      [['topProducts', 2, 'name'], 'FORBIDDEN'],
    ]);
    const anonymous = await stack.query(query);
    expect(stack.subgraphs.products.counter.received - before).toBe(0);
    expect((anonymous.body.data?.['topProducts'] as { name: unknown }[]).map((product) => product.name)).toEqual([null, null, null]);
  });
});

describe('the cache in Redis (CACHE_MODE=redis)', () => {
  const prefix = `test:cache:${process.pid}:${Date.now()}`;
  let one: Stack;
  let two: Stack;
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });

  beforeAll(async () => {
    const env = { CACHE_MODE: 'redis', CACHE_REDIS_URL: REDIS_URL, CACHE_REDIS_KEY_PREFIX: prefix };
    [one, two] = await Promise.all([startStack({ env }), startStack({ env })]);
  });
  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('shares answers between replicas, and a mutation on one evicts them on every replica', async () => {
    const query = '{ product(upc: "2") { name price } }';
    expect((await one.query(query)).body).toEqual({ data: { product: { name: 'Couch', price: 1299 } } });
    // The answer is stored once the caller has it: wait for Redis to hold it.
    await waitFor(async () => (await redis.keys(`${prefix}:*`)).length > 0);
    expect((await two.query(query)).body).toEqual({ data: { product: { name: 'Couch', price: 1299 } } });
    expect(two.subgraphs.products.counter.received).toBe(0);

    const admin = await two.as({ subject: '6', roles: ['admin'] });
    await two.query('mutation { updatePrice(upc: "2", price: 1300) { price } }', { headers: admin });
    const before = one.subgraphs.products.counter.received;
    // Replica one's own products subgraph never saw the update: it answers its own price, fetched anew.
    expect((await one.query(query)).body).toEqual({ data: { product: { name: 'Couch', price: 1299 } } });
    expect(one.subgraphs.products.counter.received - before).toBe(1);
  });
});

describe('the cache while Redis is unreachable', () => {
  let stack: Stack;

  beforeAll(async () => {
    // Nothing listens on port 1: the cache answers from this process, as it does while Redis is down.
    stack = await startStack({ env: { CACHE_MODE: 'redis', CACHE_REDIS_URL: 'redis://127.0.0.1:1' } });
  });
  afterAll(() => stack.stop());

  it('keeps answers in the process, and says once that Redis is away', async () => {
    const query = '{ topProducts(first: 1) { name } }';
    for (let i = 0; i < 3; i += 1) expect((await stack.query(query)).body).toEqual({ data: { topProducts: [{ name: 'Table' }] } });
    expect(stack.subgraphs.products.counter.received).toBe(1);
    const outages = stack.logs.filter((line) => typeof line['msg'] === 'string' && (line['msg'] as string).startsWith('Redis is unreachable; public answers'));
    expect(outages).toHaveLength(1);
  });
});
