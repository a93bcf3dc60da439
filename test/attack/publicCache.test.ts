import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type GraphQLResponse, type Stack } from '../harness.js';
import { slowProxy } from '../slowProxy.js';

// The public data cache and cross-caller sharing (README, "Caching public data") attacked.

const reviewIds = (response: GraphQLResponse) => ((response.body.data?.['product'] as { reviews: { id: string }[] } | null)?.reviews ?? []).map((review) => review.id);

describe('a mutation while a public fetch is in flight (CACHE_MODE=memory)', () => {
  let stack: Stack;
  beforeAll(async () => {
    // The reviews subgraph's answers to a product's reviews take 800 ms to come back (a slow network, a busy subgraph);
    // everything else, the deletion and the rule's look-up of a review's author included, comes back at once.
    stack = await startStack({ env: { CACHE_MODE: 'memory' }, through: { reviews: (url) => slowProxy(url, (body) => (body.includes('reviews(') ? 800 : 0)) } });
  });
  afterAll(() => stack?.stop());

  // FINDING: a request that starts after a mutation completed reads the cache versions after the mutation, misses,
  // and joins (in-flight deduplication) a fetch that was sent before the mutation. It then stores that pre-mutation
  // answer under the post-mutation versions: the deleted review is served from the cache to everyone, as fresh, for
  // the type's whole maxAge (Review: 30 s; a price: 60 s). README: "every cached answer that selected fields of a type
  // the mutation's answer names ... is stale at once". A client that keeps a popular query in flight (an attacker
  // polling it, or just traffic) makes this happen on every mutation.
  it('never caches, as fresh, an answer fetched before a mutation that completed before the request began', async () => {
    const query = '{ product(upc: "1") { reviews(first: 7) { id body } } }';
    const admin = await stack.as({ subject: '6', roles: ['admin'] });
    const before = stack.query(query);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const deleted = '1';
    const deletion = await stack.query(`mutation { deleteReview(id: "${deleted}") }`, { headers: admin });
    expect(deletion.body).toEqual({ data: { deleteReview: true } });
    // Begins after the deletion was answered.
    const after = stack.query(query);
    expect(reviewIds(await before)).toContain(deleted);
    const afterIds = reviewIds(await after);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const later = await stack.query(query);
    expect({ after: afterIds, later: reviewIds(later) }).toEqual({ after: expect.not.arrayContaining([deleted]), later: expect.not.arrayContaining([deleted]) });
  });
});

describe('public answers and the headers FORWARD_HEADERS passes on', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CACHE_MODE: 'memory', FORWARD_HEADERS: 'x-tenant' } });
  });
  afterAll(() => stack?.stop());

  // FINDING: the gateway itself keys public answers by the forwarded headers (a subgraph's answer may depend on the
  // tenant or the language), but tells shared caches the opposite: `Cache-Control: public` with `Vary: authorization`
  // only. A CDN or proxy cache in front of the gateway (what `public` is for) keeps tenant A's answer to an anonymous
  // GET and serves it to tenant B.
  it('does not mark an answer public for shared caches without varying on the headers it depends on', async () => {
    const get = (tenant: string) =>
      fetch(`${stack.url}/graphql?query=${encodeURIComponent('{ topProducts(first: 1) { name } }')}`, { headers: { 'apollo-require-preflight': '1', 'x-tenant': tenant } });
    stack.subgraphs.products.counter.reset();
    const a = await get('tenant-a');
    const b = await get('tenant-b');
    expect([a.status, b.status]).toEqual([200, 200]);
    // The subgraph is told the tenant, and the gateway's own cache holds one answer per tenant.
    expect(stack.subgraphs.products.counter.lastHeaders['x-tenant']).toBe('tenant-b');
    expect(stack.subgraphs.products.counter.received).toBe(2);
    const cacheControl = a.headers.get('cache-control') ?? '';
    const vary = (a.headers.get('vary') ?? '').toLowerCase().split(',').map((name) => name.trim());
    // Either no shared cache may keep it, or it says what it varies on.
    expect({ cacheControl, varies: !cacheControl.includes('public') || vary.includes('x-tenant') }).toEqual({ cacheControl, varies: true });
  });
});

describe('answers that depend on the caller are never shared (CACHE_MODE=memory)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CACHE_MODE: 'memory' } });
  });
  afterAll(() => stack?.stop());

  // PASSES (refused): `me`, an owner's email reached through public reviews, and an admin's cost prices, asked first
  // by one caller and then by another, with aliases and variables that make the client documents differ but not the
  // subgraph fetches, concurrently (in-flight sharing) and then again (the cache).
  it('never gives one caller another caller\'s private data through the cache or a shared fetch', async () => {
    const ada = await stack.as({ subject: '1' });
    const alan = await stack.as({ subject: '2' });
    const admin = await stack.as({ subject: '6', roles: ['admin'] });
    const mine = 'query ($first: Int) { me { id email reviews(first: $first) { id } } }';
    const emails = '{ product(upc: "1") { reviews { author { id email } } } }';
    const costs = 'query ($n: Int) { p: topProducts(first: $n) { upc costPrice } }';
    for (let round = 0; round < 2; round += 1) {
      const [adaMe, alanMe, adaEmails, alanEmails, adminCosts, anonymousCosts, userCosts] = await Promise.all([
        stack.query(mine, { headers: ada, variables: { first: 5 } }),
        stack.query(mine, { headers: alan, variables: { first: 5 } }),
        stack.query(emails, { headers: ada }),
        stack.query(emails, { headers: alan }),
        stack.query(costs, { headers: admin, variables: { n: 2 } }),
        stack.query(costs, { variables: { n: 2 } }),
        stack.query(costs, { headers: alan, variables: { n: 2 } }),
      ]);
      expect((adaMe.body.data?.['me'] as { id: string }).id).toBe('1');
      expect((alanMe.body.data?.['me'] as { id: string; email: string | null }).id).toBe('2');
      expect((alanMe.body.data?.['me'] as { email: string | null }).email).not.toBe((adaMe.body.data?.['me'] as { email: string | null }).email);
      for (const [who, answer] of [['1', adaEmails], ['2', alanEmails]] as const) {
        const authors = (answer.body.data?.['product'] as { reviews: { author: { id: string; email: string | null } | null }[] }).reviews.map((review) => review.author);
        for (const author of authors) if (author !== null && author.id !== who) expect(author.email).toBeNull();
      }
      expect((adminCosts.body.data?.['p'] as { costPrice: number | null }[]).every((product) => typeof product.costPrice === 'number')).toBe(true);
      for (const answer of [anonymousCosts, userCosts]) {
        expect((answer.body.data?.['p'] as { costPrice: number | null }[]).every((product) => product.costPrice === null)).toBe(true);
        expect(answer.body.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
      }
    }
  });
});
