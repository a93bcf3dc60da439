import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClientSchema, getIntrospectionQuery, printSchema, type IntrospectionQuery } from 'graphql';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPLORER_ASSETS } from '../src/explorer/explorerAssets.js';
import { EXPLORER_CSP } from '../src/explorer/explorerPage.js';
import { PRODUCTS } from '../subgraphs/products/data.js';
import { describeInChromium, launchChromium } from './chromium.js';
import { startStack, type Stack } from './harness.js';

// The local explorer (issue 15): its page and files over HTTP, introspection answered from the caller's view, and
// the explorer itself in Debian's Chromium with every other origin cut off, in development and in production.

const PRODUCT_FIELDS = '{ __type(name: "Product") { fields { name } } }';
const APOLLO_INTROSPECTION_OFF =
  'GraphQL introspection is not allowed by Apollo Server, but the query contained __schema or __type. To enable introspection, pass introspection: true to ApolloServer in production';

const TABLE = PRODUCTS.find((product) => product.upc === '1')!;

const fieldNames = (body: { data?: unknown }) => ((body.data as { __type: { fields: { name: string }[] } | null }).__type?.fields ?? []).map((field) => field.name);

// One development gateway and one production gateway (EXPLORER=true, with a bypass role) for the HTTP and the browser
// tests (a stack takes seconds to start).
let stack: Stack;
let production: Stack;
/** An `Authorization` header the production gateway accepts, for a caller with `roles`. */
let bearer: (roles: string[]) => Promise<Record<string, string>>;
let keyDir: string | undefined;
beforeAll(async () => {
  stack = await startStack();
  const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  keyDir = await mkdtemp(join(tmpdir(), 'explorer-production-'));
  const file = join(keyDir, 'keys.json');
  await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'explorer-test', alg: 'ES256' }] }));
  bearer = async (roles) => ({
    authorization: `Bearer ${await new SignJWT({ roles }).setProtectedHeader({ alg: 'ES256', kid: 'explorer-test' }).setIssuer('https://issuer.test/').setAudience('https://api.test').setSubject('3').setIssuedAt().setExpirationTime('5m').sign(privateKey)}`,
  });
  production = await startStack({ env: { NODE_ENV: 'production', JWT_PUBLIC_KEYS: file, JWT_ISSUER: 'https://issuer.test/', JWT_AUDIENCE: 'https://api.test', TRUSTED_DOCUMENTS_BYPASS_ROLES: 'developer', EXPLORER: 'true' } });
});
afterAll(async () => {
  await stack?.stop();
  await production?.stop();
  if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
});

describe('the explorer and introspection in development', () => {
  it('answers introspection with the caller\'s view: anonymous callers see no costPrice, admins do', async () => {
    const anonymous = await stack.query(PRODUCT_FIELDS);
    expect(anonymous.status).toBe(200);
    expect(fieldNames(anonymous.body)).toEqual(['upc', 'price', 'weight', 'inStock', 'shippingEstimate', 'name', 'reviews']);
    const admin = await stack.query(PRODUCT_FIELDS, { headers: await stack.as({ subject: '1', roles: ['admin'] }) });
    expect(fieldNames(admin.body)).toEqual(['upc', 'price', 'weight', 'inStock', 'shippingEstimate', 'name', 'costPrice', 'reviews']);
  });

  it('answers __type of a type the caller cannot use with null, and leaves out an empty Mutation', async () => {
    const query = '{ __type(name: "Mutation") { name } __schema { mutationType { name } } }';
    expect((await stack.query(query)).body).toEqual({ data: { __type: null, __schema: { mutationType: null } } });
    const user = await stack.query(query, { headers: await stack.as({ subject: '1' }) });
    expect(user.body).toEqual({ data: { __type: { name: 'Mutation' }, __schema: { mutationType: { name: 'Mutation' } } } });
  });

  it('answers the full introspection query with a valid schema a client can build', async () => {
    const response = await stack.query(getIntrospectionQuery());
    expect(response.status).toBe(200);
    const sdl = printSchema(buildClientSchema(response.body.data as unknown as IntrospectionQuery));
    expect(sdl).toContain('topProducts(first: Int = 5): [Product]');
    expect(sdl).not.toMatch(/costPrice|Mutation|\bme\b|users/);
  });

  it('denies a hidden field queried anyway exactly as before: null, with FORBIDDEN at its path', async () => {
    const response = await stack.query('{ topProducts(first: 1) { name costPrice } }');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      data: { topProducts: [{ name: 'Table', costPrice: null }] },
      errors: [{ message: 'Not authorised', locations: [{ line: 1, column: 32 }], path: ['topProducts', 0, 'costPrice'], extensions: { code: 'FORBIDDEN' } }],
    });
  });

  it('answers introspection beside data from the view too, while the data goes through the policy as ever', async () => {
    const query = '{ p: __type(name: "Product") { fields { name } } m: __type(name: "Mutation") { name } topProducts(first: 1) { name costPrice } }';
    const mixed = await stack.query(query);
    expect(mixed.status).toBe(200);
    expect(mixed.body).toEqual({
      data: { p: { fields: ['upc', 'price', 'weight', 'inStock', 'shippingEstimate', 'name', 'reviews'].map((name) => ({ name })) }, m: null, topProducts: [{ name: TABLE.name, costPrice: null }] },
      errors: [{ message: 'Not authorised', locations: [{ line: 1, column: query.indexOf('costPrice') + 1 }], path: ['topProducts', 0, 'costPrice'], extensions: { code: 'FORBIDDEN' } }],
    });
    const admin = await stack.query(query, { headers: await stack.as({ subject: '1', roles: ['admin'] }) });
    expect(admin.body).toEqual({
      data: { p: { fields: ['upc', 'price', 'weight', 'inStock', 'shippingEstimate', 'name', 'costPrice', 'reviews'].map((name) => ({ name })) }, m: { name: 'Mutation' }, topProducts: [{ name: TABLE.name, costPrice: TABLE.costPrice }] },
    });
  });

  it('serves /explorer: a static page of the gateway\'s own files, under the explorer\'s CSP', async () => {
    const response = await fetch(`${stack.url}/explorer`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).toContain('<script src="/explorer/assets/graphiql.js" defer></script>');
    expect(html).toContain('<div id="explorer" data-endpoint="/graphql" data-assets="/explorer/assets/"></div>');
    // Nothing from another origin, and no inline script for the CSP to allow.
    expect(html).not.toContain('://');
    expect(html).not.toMatch(/<script>|<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it.each(EXPLORER_ASSETS.map((asset) => [asset.name, asset.type] as const))('serves /explorer/assets/%s as %s, revalidated by its ETag', async (name, type) => {
    const response = await fetch(`${stack.url}/explorer/assets/${name}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(type);
    expect(response.headers.get('content-security-policy')).toBe(EXPLORER_CSP);
    expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(1_000);
    const etag = response.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]{43}"$/);
    const again = await fetch(`${stack.url}/explorer/assets/${name}`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
  });

  it('answers 404 NOT_FOUND for a file the explorer does not have', async () => {
    const response = await fetch(`${stack.url}/explorer/assets/..%2F..%2Fpackage.json`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }] });
  });

  it('links Sandbox\'s offline text at / to /explorer', async () => {
    const response = await fetch(`${stack.url}/`, { headers: { accept: 'text/html' } });
    expect(response.url).toBe(`${stack.url}/graphql`);
    const html = await response.text();
    expect(html).toContain('Apollo Sandbox cannot be loaded; it appears that you might be offline.</p>\n  <p>Offline, or behind a firewall? The gateway\'s own explorer needs nothing but this server: <a href="/explorer">open /explorer</a>.</p>');
  });
});

describe('the explorer and introspection in production, with a bypass role', () => {
  it.each<[string, string[] | undefined]>([
    ['an anonymous caller', undefined],
    ['an admin without the bypass role', ['admin']],
  ])('refuses introspection to %s as Apollo does with introspection off', async (_who, roles) => {
    const response = await production.query(PRODUCT_FIELDS, roles === undefined ? {} : { headers: await bearer(roles) });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ errors: [{ message: APOLLO_INTROSPECTION_OFF, locations: [{ line: 1, column: 3 }], extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'INTROSPECTION_DISABLED' } }] });
  });

  it('answers a bypass-role caller, from their view (a developer is no admin: no costPrice)', async () => {
    const developer = await production.query(PRODUCT_FIELDS, { headers: await bearer(['developer']) });
    expect(developer.status).toBe(200);
    expect(fieldNames(developer.body)).toEqual(['upc', 'price', 'weight', 'inStock', 'shippingEstimate', 'name', 'reviews']);
    const both = await production.query(PRODUCT_FIELDS, { headers: await bearer(['developer', 'admin']) });
    expect(fieldNames(both.body)).toContain('costPrice');
  });

  it('serves the explorer page under its CSP, and every other answer keeps the gateway\'s strict headers', async () => {
    const page = await fetch(`${production.url}/explorer`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(EXPLORER_CSP);
    const health = await fetch(`${production.url}/health`);
    expect(health.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
    expect(health.headers.get('cross-origin-resource-policy')).toBe('same-origin');
  });
});

describeInChromium('the explorer in Chromium, offline but for the gateway', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(() => browser?.close());

  interface OpenedExplorer {
    page: Page;
    /** The gateway's origin, the only one the page may reach. */
    origin: string;
    /** Every URL the page requested, the aborted ones too. */
    requests: string[];
    /** CSP violations, page errors and console errors. */
    problems: string[];
    close(): Promise<void>;
  }

  /**
   * The explorer of `gateway` in a fresh context where every request to another origin is aborted, and every request
   * is recorded (aborting alone would hide a page that tried), with CSP violations and page errors.
   */
  async function openExplorer(gateway: Stack, fragment = ''): Promise<OpenedExplorer> {
    const origin = gateway.url;
    const context = await browser.newContext();
    const requests: string[] = [];
    const problems: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    await context.route('**/*', (route) => (new URL(route.request().url()).origin === origin ? route.continue() : route.abort('blockedbyclient')));
    const page = await context.newPage();
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.text().startsWith('CSP')) problems.push(`console: ${message.text()}`);
    });
    // As a script's text: the test's TypeScript has no DOM types.
    await page.addInitScript({ content: "document.addEventListener('securitypolicyviolation', (event) => console.log('CSP violation: ' + event.violatedDirective + ' ' + event.blockedURI))" });
    const response = await page.goto(`${origin}/explorer${fragment}`);
    expect(response?.status()).toBe(200);
    await page.locator('[aria-label="Show Documentation Explorer"]').waitFor();
    return { page, origin, requests, problems, close: () => context.close() };
  }

  /** The documentation, opened, at its first page (the list of all types). */
  async function docsAtStart(page: Page): Promise<Locator> {
    const docs = page.locator('.graphiql-doc-explorer');
    if (!(await docs.isVisible())) await page.locator('[aria-label="Show Documentation Explorer"]').click();
    // Back from a type shown before: `isVisible` does not wait, so where there is no button it costs no timeout.
    const back = docs.locator('.graphiql-doc-explorer-back');
    for (let steps = 0; steps < 5 && (await back.isVisible()); steps++) await back.click({ timeout: 2_000 });
    return docs;
  }

  /** The fields the documentation lists for a type, opened from its list of all types. */
  async function documentedFields(page: Page, typeName: string): Promise<string[]> {
    const docs = await docsAtStart(page);
    await docs.locator('a.graphiql-doc-explorer-type-name', { hasText: new RegExp(`^${typeName}$`) }).first().click({ timeout: 5_000 });
    await docs.locator('.graphiql-doc-explorer-title', { hasText: typeName }).waitFor({ timeout: 5_000 });
    return docs.locator('a.graphiql-doc-explorer-field-name').allInnerTexts();
  }

  /** The headers editor's text (Monaco renders spaces as no-break spaces). */
  async function headersText(page: Page): Promise<string> {
    return (await page.locator('.monaco-editor[data-uri$="request-headers.json"] .view-lines').innerText()).replace(/\u00a0/g, ' ');
  }

  /** Types `token` into the prefilled `"Authorization": "Bearer "` and fetches the schema again with it. */
  async function setToken(page: Page, token: string): Promise<void> {
    // Before the prefill's closing quote: typed, Monaco would close brackets itself.
    await page.locator('.monaco-editor[data-uri$="request-headers.json"]').click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.insertText(token);
    await page.locator('[aria-label^="Re-fetch GraphQL schema"]').click();
  }

  function expectOnlyTheGateway({ origin, requests, problems }: OpenedExplorer): void {
    expect(requests.length).toBeGreaterThan(3);
    expect(requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin)).toEqual([]);
    expect(problems).toEqual([]);
  }

  it('takes a token handed over in the URL fragment into its headers, and out of the address', async () => {
    const token = (await stack.as({ subject: '1', roles: ['admin'] }))['authorization']!.slice('Bearer '.length);
    const opened = await openExplorer(stack, `#token=${token}`);
    try {
      expect(opened.page.url()).toBe(`${stack.url}/explorer`);
      expect(await headersText(opened.page)).toBe(`{\n  "Authorization": "Bearer ${token}"\n}`);
      expect(await documentedFields(opened.page, 'Product')).toContain('costPrice');
      expectOnlyTheGateway(opened);
    } finally {
      await opened.close();
    }
  });

  it('loads from the gateway alone, prefills the headers with a bearer, and documents Product.name but not costPrice for an anonymous caller', async () => {
    const opened = await openExplorer(stack);
    const { page, requests } = opened;
    try {
      // The prefill of src/explorer/explorer.client.js, without a token: the fetcher leaves it out until one follows.
      expect(await headersText(page)).toBe('{\n  "Authorization": "Bearer "\n}');
      const fields = await documentedFields(page, 'Product');
      expect(fields).toContain('name');
      expect(fields).not.toContain('costPrice');
      // Monaco starts its GraphQL worker once the editor has the schema: from this origin, like everything else.
      await expect.poll(() => requests, { timeout: 10_000 }).toContain(`${stack.url}/explorer/assets/graphql.worker.js`);
      expectOnlyTheGateway(opened);
    } finally {
      await opened.close();
    }
  });

  it('documents costPrice once an admin token is set in the headers editor, and runs a query typed into the editor', async () => {
    const opened = await openExplorer(stack);
    const { page } = opened;
    try {
      expect(await documentedFields(page, 'Product')).not.toContain('costPrice');
      await setToken(page, (await stack.as({ subject: '1', roles: ['admin'] }))['authorization']!.slice('Bearer '.length));
      await expect.poll(() => documentedFields(page, 'Product'), { timeout: 10_000 }).toContain('costPrice');

      await page.locator('.graphiql-query-editor .monaco-editor').first().click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      await page.keyboard.insertText('{ topProducts(first: 1) { name costPrice } }');
      await page.locator('[aria-label^="Execute query"]').click();
      // Monaco renders spaces as no-break spaces.
      const result = async () => (await page.locator('.graphiql-response').innerText()).replace(/\u00a0/g, ' ');
      await expect.poll(result, { timeout: 10_000 }).toContain(`"costPrice": ${TABLE.costPrice}`);
      expect(await result()).toContain(`"name": "${TABLE.name}"`);
      expectOnlyTheGateway(opened);
    } finally {
      await opened.close();
    }
  });

  it('in production, documents nothing for an anonymous caller (introspection refused), and the schema once a bypass-role token is set', async () => {
    const opened = await openExplorer(production);
    const { page } = opened;
    // Wrapped lines joined: Monaco wraps the long message (and renders only the lines in view, so not its code).
    const response = async () => (await page.locator('.graphiql-response').innerText()).replace(/\s+/g, ' ');
    try {
      const docs = await docsAtStart(page);
      await expect.poll(response, { timeout: 10_000 }).toContain(`"message": "${APOLLO_INTROSPECTION_OFF}"`);
      await expect.poll(() => docs.innerText(), { timeout: 10_000 }).toContain('Error fetching schema');
      expect(await docs.locator('a.graphiql-doc-explorer-type-name').count()).toBe(0);

      await setToken(page, (await bearer(['developer']))['authorization']!.slice('Bearer '.length));
      // A developer is no admin: the view has Product, without costPrice.
      await expect.poll(() => documentedFields(page, 'Product'), { timeout: 10_000 }).toContain('name');
      expect(await documentedFields(page, 'Product')).not.toContain('costPrice');
      // The browser reports each refused introspection (400) on its console; nothing else may go wrong.
      expectOnlyTheGateway({ ...opened, problems: opened.problems.filter((problem) => !problem.endsWith('the server responded with a status of 400 (Bad Request)')) });
    } finally {
      await opened.close();
    }
  });
});
