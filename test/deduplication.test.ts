import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness.js';
import { slowProxy } from './slowProxy.js';

describe('deduplication of identical subgraph requests in flight', () => {
  let stack: Stack;
  const served = () => stack.subgraphs.products.counter.received;

  beforeAll(async () => {
    // Products and accounts answers are held back a second, so that concurrent requests surely overlap, even on a slow
    // machine. The cache is off: what is shared here is shared in flight only.
    stack = await startStack({ env: { CACHE_MODE: 'off' }, through: { products: (url) => slowProxy(url, 1_000), accounts: (url) => slowProxy(url, 1_000) } });
  });
  afterAll(() => stack.stop());

  it('sends one subgraph request for identical queries of one caller at the same moment, and answers each in full', async () => {
    const headers = await stack.as({ subject: '2' });
    const before = served();
    const answers = await Promise.all(Array.from({ length: 10 }, () => stack.query('{ topProducts(first: 2) { name } }', { headers })));
    for (const answer of answers) expect(answer.body).toEqual({ data: { topProducts: [{ name: 'Table' }, { name: 'Couch' }] } });
    expect(served() - before).toBe(1);
  });

  it('never shares a private answer between callers whose identity differs', async () => {
    const accounts = stack.subgraphs.accounts.counter;
    const before = accounts.received;
    const answers = await Promise.all(['1', '2', '3', '4'].map(async (subject) => stack.query('{ me { id name } }', { headers: await stack.as({ subject }) })));
    expect(answers.map((answer) => (answer.body.data?.['me'] as { id: string }).id)).toEqual(['1', '2', '3', '4']);
    expect(accounts.received - before).toBe(4);
  });

  it('shares a public answer (every field hinted PUBLIC) between callers whose identity differs', async () => {
    const before = served();
    const answers = await Promise.all(
      ['1', '2', '3', '4'].map(async (subject) => stack.query('{ topProducts(first: 3) { name } }', { headers: await stack.as({ subject }) })),
    );
    for (const answer of answers) expect(answer.body).toEqual({ data: { topProducts: [{ name: 'Table' }, { name: 'Couch' }, { name: 'Chair' }] } });
    expect(served() - before).toBe(1);
  });

  it('never shares a mutation', async () => {
    const headers = await stack.as({ subject: '6', roles: ['admin'] });
    const before = served();
    const answers = await Promise.all(Array.from({ length: 3 }, () => stack.query('mutation { updatePrice(upc: "4", price: 130) { price } }', { headers })));
    for (const answer of answers) expect(answer.body).toEqual({ data: { updatePrice: { price: 130 } } });
    expect(served() - before).toBe(3);
  });

  it('can be turned off', async () => {
    let proxy: Awaited<ReturnType<typeof slowProxy>> | undefined;
    const plain = await startStack({ env: { DEDUPLICATE_SUBGRAPH_REQUESTS: 'false' }, through: { products: async (url) => (proxy = await slowProxy(url, 1_000)) } });
    try {
      const headers = await plain.as({ subject: '2' });
      await Promise.all(Array.from({ length: 3 }, () => plain.query('{ topProducts(first: 2) { name } }', { headers })));
      expect(plain.subgraphs.products.counter.received).toBe(3);
      // They were in flight together, so deduplication would have shared them.
      expect(proxy?.maxInFlight()).toBe(3);
    } finally {
      await plain.stop();
    }
  });
});
