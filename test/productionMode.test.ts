import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productionEnv, startStack, type Stack } from './harness.js';

describe('production mode (NODE_ENV=production)', () => {
  let stack: Stack;
  const nodeEnv = process.env['NODE_ENV'];
  beforeAll(async () => {
    // Apollo Server would include stack traces by default outside NODE_ENV=production/test: the gateway's own
    // settings, not the test runner's NODE_ENV, must keep them out.
    process.env['NODE_ENV'] = 'development';
    stack = await startStack({ env: await productionEnv() });
  });
  afterAll(async () => {
    process.env['NODE_ENV'] = nodeEnv;
    await stack.stop();
  });

  it('serves queries', async () => {
    const response = await stack.query('{ topProducts(first: 1) { name } }');
    expect(response.body).toEqual({ data: { topProducts: [{ name: 'Table' }] } });
  });

  it('refuses introspection', async () => {
    const response = await stack.query('{ __schema { types { name } } }');
    expect(response.status).toBe(400);
    expect(response.body.data).toBeUndefined();
    expect(response.body.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(JSON.stringify(response.body)).not.toContain('Product');
  });

  it('names no real field when a query has a typo (no "Did you mean")', async () => {
    const response = await stack.query('{ topProduct { name } }');
    expect(response.status).toBe(400);
    const message = response.body.errors?.[0]?.message ?? '';
    expect(message).toContain('topProduct');
    expect(message).not.toMatch(/did you mean|topProducts/i);
  });

  it('serves no Sandbox: / is not found and /graphql shows no landing page', async () => {
    expect((await fetch(`${stack.url}/`, { redirect: 'manual' })).status).toBe(404);
    const page = await fetch(`${stack.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toContain('embeddable-sandbox');
  });

  it('sends no stack trace with an error', async () => {
    const response = await stack.query('query ($id: ID!) { user(id: $id) { name } }', { variables: {} });
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(response.body)).not.toMatch(/stacktrace|node_modules|\.ts:|\.js:/);
  });
});
