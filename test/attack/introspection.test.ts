import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness.js';

// Introspection answered from the caller's view of the schema (README, "The explorer and introspection") attacked:
// can a caller learn what their view leaves out (Product.costPrice, the admin-only mutations)?

const INTROSPECTION_DISABLED = { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'INTROSPECTION_DISABLED' };

describe('the caller\'s view in development (introspection on)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.stop());

  // PASSES (refused): no way around the view through introspection itself: fragments, aliases, every type's fields,
  // the mutation type, introspection beside data.
  it('shows an anonymous caller no costPrice and no admin mutation whichever way introspection is asked', async () => {
    const asks = [
      '{ __type(name: "Product") { fields(includeDeprecated: true) { name } } }',
      'query { ...A } fragment A on Query { ...B } fragment B on Query { s: __schema { types { name fields { name args { name } } } } }',
      '{ __schema { mutationType { fields { name } } queryType { fields { name type { ofType { fields { name } } fields { name } } } } } }',
      '{ m: __type(name: "Mutation") { fields { name } } }',
      '{ topProducts(first: 1) { __typename name } x: __type(name: "Product") { fields { name } } ... on Query { y: __schema { types { fields { name } } } } }',
    ];
    for (const ask of asks) {
      const response = await stack.query(ask);
      expect(response.status).toBe(200);
      const text = JSON.stringify(response.body);
      expect({ ask, leaks: ['costPrice', 'createProduct', 'updatePrice', 'createReview'].filter((name) => text.includes(name)) }).toEqual({ ask, leaks: [] });
    }
  });

  // FINDING (low): graphql-js's validation messages describe the whole API schema, not the caller's view. An anonymous
  // caller, whose introspection has no costPrice, no Mutation.createProduct, is told of both, with the mutation's
  // arguments and their types: "Did you mean "costPrice"?", "Field "createProduct" argument "price" of type "Int!" is
  // required". The view is the explorer's documentation and what `__schema` says; the suggestions undo it. (Guessing
  // a name exactly is answered FORBIDDEN, which the README accepts; a suggestion needs no guess.)
  it('does not suggest or describe fields the caller\'s view leaves out', async () => {
    const typo = await stack.query('{ topProducts(first: 1) { costPric } }');
    const hiddenMutation = await stack.query('mutation { createProduct(upc: "x") { upc } }');
    const text = JSON.stringify([typo.body, hiddenMutation.body]);
    expect(['costPrice', 'Int!', 'argument "name"', 'argument "price"'].filter((leak) => text.includes(leak))).toEqual([]);
    expect(typo.body.errors).toEqual([{ message: 'Cannot query field "costPric" on type "Product".', locations: [{ line: 1, column: 27 }], extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }]);
    expect(hiddenMutation.body.errors).toEqual([{ message: 'The operation does not validate against the schema', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }]);
  });

  it('keeps graphql-js\'s help for what the caller may see: an admin is told of costPrice', async () => {
    const admin = await stack.as({ subject: '1', roles: ['admin'] });
    const typo = await stack.query('{ topProducts(first: 1) { costPric } }', { headers: admin });
    expect(typo.body.errors).toEqual([{ message: 'Cannot query field "costPric" on type "Product". Did you mean "costPrice"?', locations: [{ line: 1, column: 27 }], extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }]);
    const anonymous = await stack.query('{ topProducts(first: 1) { nme } }');
    expect(anonymous.body.errors?.[0]?.message).toBe('Cannot query field "nme" on type "Product". Did you mean "name"?');
  });
});

describe('introspection in production (off, a bypass role only)', () => {
  let production: Stack;
  let bearer: (roles: string[]) => Promise<Record<string, string>>;
  beforeAll(async () => {
    const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const file = join(await mkdtemp(join(tmpdir(), 'attack-introspection-')), 'keys.json');
    await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'attack-test', alg: 'ES256' }] }));
    bearer = async (roles) => ({
      authorization: `Bearer ${await new SignJWT({ roles }).setProtectedHeader({ alg: 'ES256', kid: 'attack-test' }).setIssuer('https://issuer.test/').setAudience('https://api.test').setSubject('3').setIssuedAt().setExpirationTime('5m').sign(privateKey)}`,
    });
    production = await startStack({
      env: { NODE_ENV: 'production', JWT_PUBLIC_KEYS: file, JWT_ISSUER: 'https://issuer.test/', JWT_AUDIENCE: 'https://api.test', TRUSTED_DOCUMENTS_BYPASS_ROLES: 'developer', AUTOMATIC_PERSISTED_QUERIES: 'true' },
    });
  });
  afterAll(() => production?.stop());

  // PASSES (refused): a caller without the bypass role gets Apollo's refusal, however the introspection is hidden.
  it('refuses introspection to callers without the bypass role: in fragments, under aliases, beside data, skipped, by GET, by APQ', async () => {
    const admin = await bearer(['admin']);
    const documents = [
      'query { ...A } fragment A on Query { ...B } fragment B on Query { s: __schema { queryType { name } } }',
      '{ topProducts(first: 1) { name } t: __type(name: "Product") { fields { name } } }',
      '{ topProducts(first: 1) { name } t: __type(name: "Product") @skip(if: true) { name } }',
    ];
    for (const headers of [{}, admin]) {
      for (const document of documents) {
        const response = await production.query(document, { headers });
        expect({ document, status: response.status, data: response.body.data }).toEqual({ document, status: 400, data: undefined });
        expect(response.body.errors?.[0]?.extensions).toEqual(INTROSPECTION_DISABLED);
      }
      const query = '{ __type(name: "Product") { fields { name } } }';
      const get = await fetch(`${production.url}/graphql?query=${encodeURIComponent(query)}`, { headers: { 'apollo-require-preflight': '1', ...headers } });
      expect(get.status).toBe(400);
      const sha256Hash = createHash('sha256').update(query).digest('hex');
      const register = await fetch(`${production.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash } } }) });
      expect(register.status).toBe(400);
      const byHash = await fetch(`${production.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash } } }) });
      expect(JSON.stringify(await byHash.json())).not.toContain('"fields"');
    }
  });

  // PASSES (refused): in production nothing but the bypass role gets a message that describes the schema.
  it('describes nothing of hidden fields to a caller without the bypass role', async () => {
    const typo = await production.query('{ topProducts(first: 1) { costPric } }');
    expect(typo.body).toEqual({ errors: [{ message: 'The operation does not validate against the schema', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] });
  });

  // PASSES (refused): a bypass-role caller (a developer, for Sandbox in staging) introspects their own view, without
  // costPrice (an admin-only field), and gets graphql-js's full validation messages, but production hides Apollo's
  // "Did you mean" suggestions (hideSchemaDetailsFromClientErrors), so they name nothing the view leaves out.
  it('does not suggest to a bypass-role caller a field their view leaves out', async () => {
    const developer = await bearer(['developer']);
    const view = await production.query('{ __type(name: "Product") { fields { name } } }', { headers: developer });
    expect(JSON.stringify(view.body)).not.toContain('costPrice');
    const typo = await production.query('{ topProducts(first: 1) { costPric } }', { headers: developer });
    expect(typo.status).toBe(400);
    expect(JSON.stringify(typo.body)).not.toContain('costPrice');
  });
});

describe('the explorer keeps no token in the browser', () => {
  let stack: Stack;
  let browser: Browser;
  beforeAll(async () => {
    stack = await startStack();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  // PASSES (refused): GraphiQL's history plugin writes each run's tab headers to localStorage (graphiql:queries) and
  // takes no shouldPersistHeaders; the explorer's token, handed over in the fragment, still never reaches storage:
  // the tab keeps no headers when they are not persisted.
  it('writes a token handed over in the fragment nowhere in storage, even after a query ran with it', async () => {
    const token = (await stack.as({ subject: '1', roles: ['admin'] }))['authorization']!.slice('Bearer '.length);
    const context = await browser.newContext();
    try {
      await context.route('**/*', (route) => (new URL(route.request().url()).origin === stack.url ? route.continue() : route.abort('blockedbyclient')));
      const page = await context.newPage();
      await page.goto(`${stack.url}/explorer#token=${token}`);
      await page.locator('[aria-label="Show Documentation Explorer"]').waitFor();
      expect(page.url()).toBe(`${stack.url}/explorer`);
      await page.locator('.graphiql-query-editor .monaco-editor').first().click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      await page.keyboard.insertText('{ topProducts(first: 1) { name costPrice } }');
      await page.locator('[aria-label^="Execute query"]').click();
      await expect.poll(async () => (await page.locator('.graphiql-response').innerText()).replace(/\u00a0/g, ' '), { timeout: 10_000 }).toContain('"costPrice": ');
      await page.reload();
      await page.locator('[aria-label="Show Documentation Explorer"]').waitFor();
      const stored = (await page.evaluate('JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])')) as string;
      expect(stored).toContain('topProducts');
      expect(stored).not.toContain(token);
      expect(stored).not.toContain(token.split('.')[2]!);
    } finally {
      await context.close();
    }
  });
});
