import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it.each<[string, string, Record<string, unknown>, string]>([
    ['a field that does not exist (a typo, or a probe)', '{ topProduct { name } topProducts { nam } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
    ['an argument that does not exist', '{ topProducts(limit: 2) { name } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
    ['a required argument left out', '{ user { name } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
    ['a leaf with a selection, an object without one', '{ topProducts { name { x } reviews } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
    ['a variable of the wrong type', 'query ($n: String) { topProducts(first: $n) { name } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
    ['an unknown type', 'query ($n: Secret) { topProducts { name } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
    ['a variable value that does not coerce', 'query ($n: Int) { topProducts(first: $n) { name } }', { n: 'many' }, 'BAD_USER_INPUT'],
  ])('describes nothing of the schema in its refusal of %s: one generic error, no locations', async (_case, query, variables, code) => {
    const response = await stack.query(query, { variables });
    expect(response.status).toBe(400);
    const message = code === 'BAD_USER_INPUT' ? "The variables do not match the operation's types" : 'The operation does not validate against the schema';
    expect(response.body).toEqual({ errors: [{ message, extensions: { code } }] });
  });

  it('keeps the gateway\'s own refusals as they are: they describe the request, not the schema', async () => {
    const deep = '{ topProducts { reviews { author { reviews { product { reviews { author { reviews { product { reviews { author { reviews { product { name } } } } } } } } } } } } } }';
    const response = await stack.query(deep);
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_DEPTH_EXCEEDED' });
  });

  it('serves no Sandbox: / is not found and /graphql shows no landing page', async () => {
    expect((await fetch(`${stack.url}/`, { redirect: 'manual' })).status).toBe(404);
    // Nor the explorer, which production serves only when asked for (EXPLORER=true, with a bypass role).
    const explorer = await fetch(`${stack.url}/explorer`);
    expect(explorer.status).toBe(404);
    expect(await explorer.json()).toEqual({ errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }] });
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

describe('production mode, a caller with a bypass role', () => {
  let stack: Stack;
  let token: (roles: string[]) => Promise<string>;
  beforeAll(async () => {
    const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const dir = await mkdtemp(join(tmpdir(), 'production-bypass-'));
    const file = join(dir, 'keys.json');
    await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bypass-test', alg: 'ES256' }] }));
    token = (roles) =>
      new SignJWT({ roles }).setProtectedHeader({ alg: 'ES256', kid: 'bypass-test' }).setIssuer('https://issuer.test/').setAudience('https://api.test').setSubject('3').setIssuedAt().setExpirationTime('5m').sign(privateKey);
    stack = await startStack({ env: { NODE_ENV: 'production', JWT_PUBLIC_KEYS: file, JWT_ISSUER: 'https://issuer.test/', JWT_AUDIENCE: 'https://api.test', TRUSTED_DOCUMENTS_BYPASS_ROLES: 'developer' } });
  });
  afterAll(() => stack.stop());

  it('gets graphql-js\'s own messages (Sandbox in staging), and no one else does', async () => {
    const developer = await stack.query('{ topProduct { name } }', { headers: { authorization: `Bearer ${await token(['developer'])}` } });
    expect(developer.status).toBe(400);
    expect(developer.body.errors?.[0]?.message).toBe('Cannot query field "topProduct" on type "Query".');
    const admin = await stack.query('{ topProduct { name } }', { headers: { authorization: `Bearer ${await token(['admin'])}` } });
    expect(admin.body.errors?.[0]?.message).toBe('The operation does not validate against the schema');
  });
});
