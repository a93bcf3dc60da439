import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness.js';
import { TEST_QUERY, expectedTestQueryData, providedUsernamesMatchAccounts } from './fixtures/testQuery.js';

describe('queries through the gateway', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  it('answers the benchmark TestQuery, which joins all four subgraphs, with exactly the expected data', async () => {
    expect(providedUsernamesMatchAccounts()).toBe(true);
    // `users` is for signed-in callers; everything else the query selects is public.
    const response = await stack.query(TEST_QUERY, { headers: await stack.as({ subject: '1' }) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/graphql-response\+json/);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data).toEqual(expectedTestQueryData());
    for (const name of ['accounts', 'products', 'inventory', 'reviews'] as const) {
      expect(stack.subgraphs[name].counter.received, name).toBeGreaterThan(0);
    }
  });

  it('serves GET queries as well as POST', async () => {
    const search = new URLSearchParams({ query: '{ product(upc: "3") { name inStock shippingEstimate } }' });
    const response = await fetch(`${stack.url}/graphql?${search}`, { headers: { accept: 'application/json', 'apollo-require-preflight': 'true' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { product: { name: 'Chair', inStock: false, shippingEstimate: 25 } } });
  });

  it('returns a request id on every response, keeping a well-formed one the caller sent', async () => {
    const generated = await stack.query('{ users { id } }');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await stack.query('{ users { id } }', { headers: { 'x-request-id': 'trace-42.a' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-42.a');
    const replaced = await stack.query('{ users { id } }', { headers: { 'x-request-id': 'x'.repeat(65) } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('passes the request id on to the subgraphs and writes one JSON log line per request', async () => {
    const response = await stack.query('{ topProducts(first: 1) { upc } }', { headers: { 'x-request-id': 'log-line-check' } });
    expect(response.status).toBe(200);
    expect(stack.subgraphs.products.counter.lastHeaders['x-request-id']).toBe('log-line-check');
    const lines = stack.logs.filter((entry) => entry['requestId'] === 'log-line-check' && entry['msg'] === 'request');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: 'POST', path: '/graphql', status: 200 });
  });

  it('answers an unknown path with 404 and a GraphQL-shaped error', async () => {
    const response = await fetch(`${stack.url}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }] });
  });

  it('refuses a body over the limit with 413, and serves the next request', async () => {
    const response = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ users { id } } # ${'x'.repeat(1024 * 1024)}` }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ errors: [{ message: 'The request body is too large', extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
    expect((await stack.query('{ users { id } }')).status).toBe(200);
  });

  it('answers a syntax error with 400 GRAPHQL_PARSE_FAILED', async () => {
    const response = await stack.query('{ users { id ');
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_PARSE_FAILED');
  });

  it('sends no x-powered-by header and reports health and readiness', async () => {
    const health = await fetch(`${stack.url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get('x-powered-by')).toBeNull();
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${stack.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('serves Apollo Sandbox in development: / redirects to /graphql, which answers a browser with the Sandbox page', async () => {
    const root = await fetch(`${stack.url}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/graphql');
    const page = await fetch(`${stack.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('embeddable-sandbox');
  });

  it('answers introspection in development', async () => {
    const response = await stack.query('{ __schema { queryType { name } } }');
    expect(response.body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
  });
});

describe('mutations', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  it('creates a product and changes its price, and the change is visible to later queries', async () => {
    const admin = { headers: await stack.as({ subject: '6', roles: ['admin'] }) };
    const created = await stack.query('mutation { createProduct(upc: "100", name: "Stool", price: 45, weight: 30) { upc name price shippingEstimate } }', admin);
    expect(created.body).toEqual({ data: { createProduct: { upc: '100', name: 'Stool', price: 45, shippingEstimate: 15 } } });
    const updated = await stack.query('mutation { updatePrice(upc: "100", price: 2500) { price shippingEstimate } }', admin);
    expect(updated.body).toEqual({ data: { updatePrice: { price: 2500, shippingEstimate: 0 } } });
    const read = await stack.query('{ product(upc: "100") { name price } }');
    expect(read.body).toEqual({ data: { product: { name: 'Stool', price: 2500 } } });
    expect(stack.subgraphs.products.counter.count('Mutation.createProduct')).toBe(1);
    expect(stack.subgraphs.products.counter.count('Mutation.updatePrice')).toBe(1);
  });

  it('creates and deletes a review, which appears on and then leaves its product', async () => {
    const author = { headers: await stack.as({ subject: '3' }) };
    const created = await stack.query('mutation { createReview(upc: "4", body: "Bright and steady.", rating: 4) { id rating product { name } author { username } } }', author);
    const review = (created.body.data?.['createReview'] ?? null) as { id: string } | null;
    expect(created.body.errors).toBeUndefined();
    expect(created.body.data).toEqual({ createReview: { id: review?.id, rating: 4, product: { name: 'Lamp' }, author: { username: '@grace' } } });
    const reviewIds = async () => {
      const response = await stack.query('{ product(upc: "4") { reviews { id } } }');
      return ((response.body.data?.['product'] as { reviews: { id: string }[] }).reviews).map((entry) => entry.id);
    };
    expect(await reviewIds()).toContain(review?.id);
    const deleted = await stack.query('mutation Delete($id: ID!) { deleteReview(id: $id) }', { variables: { id: review?.id }, ...author });
    expect(deleted.body).toEqual({ data: { deleteReview: true } });
    expect(await reviewIds()).not.toContain(review?.id);
    // An admin may delete any review; one that no longer exists deletes nothing.
    const again = await stack.query('mutation Delete($id: ID!) { deleteReview(id: $id) }', { variables: { id: review?.id }, headers: await stack.as({ subject: '6', roles: ['admin'] }) });
    expect(again.body).toEqual({ data: { deleteReview: false } });
  });

  it.each([
    ['an unknown upc', 'mutation { updatePrice(upc: "999", price: 1) { price } }', 'updatePrice', 'No product with upc "999"'],
    ['a rating above 5', 'mutation { createReview(upc: "1", body: "Great", rating: 6) { id } }', 'createReview', 'rating must be a whole number from 1 to 5'],
    ['a rating below 1', 'mutation { createReview(upc: "1", body: "Awful", rating: 0) { id } }', 'createReview', 'rating must be a whole number from 1 to 5'],
    ['a review of an unknown product', 'mutation { createReview(upc: "nope", body: "Hm", rating: 3) { id } }', 'createReview', 'No product with upc "nope"'],
    ['a duplicate upc', 'mutation { createProduct(upc: "1", name: "Again", price: 1) { upc } }', 'createProduct', 'A product with upc "1" already exists'],
  ])('refuses %s with a clear BAD_USER_INPUT error', async (_case, mutation, field, message) => {
    const response = await stack.query(mutation, { headers: await stack.as({ subject: '6', roles: ['admin'] }) });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { [field]: null }, errors: [{ message, path: [field], extensions: { code: 'BAD_USER_INPUT' } }] });
  });
});

describe('a subgraph that is down', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
    await stack.stopSubgraph('inventory');
  });
  afterAll(() => stack.stop());
  afterEach(() => {
    expect(JSON.stringify(stack.logs)).toContain('ECONNREFUSED');
  });

  it('yields a partial result with a SERVICE_UNAVAILABLE error that names no backend, and the gateway keeps serving', async () => {
    const response = await stack.query('{ topProducts(first: 2) { upc name inStock } }');
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ topProducts: [{ upc: '1', name: 'Table', inStock: null }, { upc: '2', name: 'Couch', inStock: null }] });
    expect(response.body.errors).toEqual([{ message: 'A service needed for this field is unavailable', extensions: { code: 'SERVICE_UNAVAILABLE' } }]);
    const raw = JSON.stringify(response.body);
    expect(raw).not.toMatch(/127\.0\.0\.1|inventory|ECONNREFUSED|serviceName|stack/i);

    const next = await stack.query('{ users { username } }', { headers: await stack.as({ subject: '2' }) });
    expect(next.status).toBe(200);
    expect(next.body.errors).toBeUndefined();
    expect((next.body.data?.['users'] as unknown[]).length).toBe(6);
  });
});
