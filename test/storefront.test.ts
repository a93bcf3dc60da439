import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleStorefront } from '../frontend/build/bundle.js';
import type { StorefrontRuntimeConfig } from '../frontend/src/runtimeConfig.js';
import { readTopology } from '../src/topology/composeFile.js';
import { launchTopology, type RunningTopology } from '../src/topology/launcher.js';
import { USERS } from '../subgraphs/accounts/data.js';
import { PRODUCTS } from '../subgraphs/products/data.js';
import { REVIEWS, USERNAMES } from '../subgraphs/reviews/data.js';
import { describeInChromium, launchChromium } from './chromium.js';

// The storefront in Debian's Chromium, against the topology docker-compose.yml declares, run as `npm start` runs it
// (every service a process of its own, on free ports here): what a visitor sees, as the DOM shows it.

const ROOT = new URL('..', import.meta.url).pathname;
/** A document that no storefront operation is: an admin-only field asked by a script in the page. */
const UNLISTED = '{ topProducts { name costPrice } }';
const ADA = USERS.find((user) => user.id === '1') ?? missing('demo user 1');
const TABLE_REVIEWS = REVIEWS.filter((review) => review.upc === '1');

interface Launched {
  running: RunningTopology;
  /** The storefront's origin, as a browser opens it (http://localhost:<port>). */
  storefront: string;
  /** The gateway's origin as the page calls it (the storefront's /config.json). */
  gateway: string;
  output: string[];
  stop(): Promise<void>;
}

let browser: Browser;
let staticDir: string;

/**
 * The compose file's topology with `env` in the environment it is interpolated from (`TRUSTED_DOCUMENTS=enforce`),
 * in development as `npm start` runs it: the storefront's sign-in and the gateway share one development key file.
 */
async function launch(env: Record<string, string>): Promise<Launched> {
  const dir = await mkdtemp(join(tmpdir(), 'storefront-topology-'));
  const output: string[] = [];
  let running: RunningTopology | undefined;
  try {
    running = await launchTopology({
      topology: await readTopology(join(ROOT, 'docker-compose.yml')),
      baseEnv: { PATH: process.env['PATH'], APOLLO_TELEMETRY_DISABLED: 'true', LOG_LEVEL: 'warn', DEV_KEY_FILE: join(dir, 'dev-issuer-key.json'), ...env },
      ports: 'ephemeral',
      gatewayEnv: { NODE_ENV: 'development' },
      // The page this test bundled: `npm test` runs without `npm run build`, which writes dist/frontend/public.
      appEnv: { NODE_ENV: 'development', STOREFRONT_STATIC_DIR: staticDir },
      output: (service, line) => output.push(`${service}: ${line}`),
      startTimeoutMs: 20_000,
    });
    const started = running;
    const storefront = started.appUrls['storefront'] ?? '';
    const config = (await (await fetch(`${storefront}/config.json`)).json()) as StorefrontRuntimeConfig;
    return {
      running: started,
      storefront,
      gateway: new URL(config.graphqlUrl).origin,
      output,
      async stop() {
        await started.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

interface Visit {
  context: BrowserContext;
  page: Page;
  /** Requests to any other origin, aborted before they left the browser. */
  aborted: string[];
  /** The requests the page sent to the gateway. */
  toGateway: Request[];
  /** Uncaught errors and console errors in the page. */
  problems: string[];
}

/** Opens the storefront in a fresh context that lets the page reach its own origin and the gateway, nothing else. */
async function visit(topology: Launched): Promise<Visit> {
  const context = await browser.newContext();
  const aborted: string[] = [];
  const toGateway: Request[] = [];
  const problems: string[] = [];
  await context.route('**', (route) => {
    const origin = new URL(route.request().url()).origin;
    if (origin === topology.storefront || origin === topology.gateway) return route.continue();
    aborted.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('request', (request) => {
    if (new URL(request.url()).origin === topology.gateway) toGateway.push(request);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(topology.storefront);
  await page.waitForSelector('body[data-state="ready"]');
  return { context, page, aborted, toGateway, problems };
}

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();

/**
 * What a visitor does: sees the products and their reviews, signs in as a demo user, sees their own email, posts a
 * review and sees it on the page. Every assertion reads the DOM.
 */
async function shopAs(topology: Launched): Promise<Visit> {
  const shopping = await visit(topology);
  const { page } = shopping;
  await page.waitForSelector('[data-testid="product-list"][data-state="ready"]');
  expect(await texts(page, '[data-testid="product-name"]'), topology.output.join('\n')).toEqual(PRODUCTS.slice(0, 5).map((product) => product.name));
  const table = page.locator('[data-testid="product"][data-upc="1"]');
  expect(await table.locator('[data-testid="review-body"]').allTextContents()).toEqual(TABLE_REVIEWS.map((review) => review.body));
  expect(await table.locator('[data-testid="review-author"]').allTextContents()).toEqual(TABLE_REVIEWS.map((review) => ` by ${USERNAMES[review.authorId ?? ''] ?? ''}`));

  await page.selectOption('[data-testid="sign-in-user"]', ADA.id);
  await page.click('[data-testid="sign-in-button"]');
  await page.waitForSelector('[data-testid="profile"][data-state="ready"]');
  expect(await page.textContent('[data-testid="signed-in-as"]')).toBe(`Signed in as ${ADA.name}`);
  expect(await page.textContent('[data-testid="profile-name"]')).toBe(ADA.name);
  expect(await page.textContent('[data-testid="profile-email"]')).toBe(ADA.email);

  const body = `Posted from Chromium at ${Date.now()}: sturdy, and the drawer glides.`;
  // The form's fields by id: the product list's reviews carry data-testids of the same names.
  await page.selectOption('#review-product', '1');
  await page.selectOption('#review-rating', '4');
  await page.fill('#review-body', body);
  await page.click('#review-submit');
  await page.waitForSelector('[data-testid="review-form"][data-state="done"]');
  expect(await page.textContent('[data-testid="posted-review-body"]')).toBe(body);
  expect(await page.textContent('[data-testid="posted-review-author"]')).toBe(USERNAMES[ADA.id]);
  // The product list shows it too, last among the table's reviews, without a reload.
  expect(await table.locator('[data-testid="review-body"]').allTextContents()).toEqual([...TABLE_REVIEWS.map((review) => review.body), body]);

  expect(await page.isHidden('[data-testid="errors"]')).toBe(true);
  expect(shopping.problems).toEqual([]);
  expect(shopping.aborted).toEqual([]);
  return shopping;
}

/**
 * While requests are routed, Playwright answers CORS preflights itself (crNetworkManager fulfils every intercepted
 * OPTIONS preflight with "allow"), so the browser never asked the gateway. Ask it now, as Chromium would have, for
 * each request the page sent: the gateway must allow the storefront's origin and every header the page set.
 */
async function expectPreflightsAllowed(topology: Launched, requests: readonly Request[]): Promise<void> {
  expect(requests.length).toBeGreaterThan(0);
  // Headers a browser sets itself or that need no permission (the CORS-safelisted ones, content-type aside).
  const browserOwn = new Set(['accept', 'accept-language', 'content-language', 'origin', 'referer', 'user-agent', 'host', 'connection', 'content-length', 'accept-encoding']);
  for (const request of requests) {
    const names = Object.keys(await request.allHeaders()).map((name) => name.toLowerCase()).filter((name) => !browserOwn.has(name) && !name.startsWith('sec-'));
    const preflight = await fetch(request.url(), {
      method: 'OPTIONS',
      headers: { origin: topology.storefront, 'access-control-request-method': request.method(), 'access-control-request-headers': names.sort().join(',') },
    });
    expect(preflight.headers.get('access-control-allow-origin'), request.url()).toBe(topology.storefront);
    const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').split(',').map((name) => name.trim().toLowerCase());
    expect(allowed).toEqual(expect.arrayContaining(names));
  }
}

/** A script in the page posts `query` to the gateway, as someone typing into the page's console would. */
function typedIntoConsole(page: Page, gateway: string, query: string): Promise<{ status: number; body: { data?: unknown; errors?: { extensions?: { code?: string } }[] } }> {
  return page.evaluate(
    async ({ url, text }) => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: text }) });
      return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] } };
    },
    { url: `${gateway}/graphql`, text: query },
  );
}

describeInChromium('the storefront in Chromium', () => {
  beforeAll(async () => {
    staticDir = await mkdtemp(join(tmpdir(), 'storefront-page-'));
    [browser] = await Promise.all([
      launchChromium(),
      bundleStorefront({ frontendDir: join(ROOT, 'frontend'), outDir: staticDir, version: '0.0.0-browser-test' }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    if (staticDir !== undefined) await rm(staticDir, { recursive: true, force: true });
  });

  describe('with the compose file as it is (TRUSTED_DOCUMENTS off)', () => {
    let topology: Launched;
    beforeAll(async () => {
      topology = await launch({});
    });
    afterAll(() => topology?.stop());

    it('shows the products and their reviews, signs a demo user in, shows their email, and shows the review they post', async () => {
      const shopping = await shopAs(topology);
      await expectPreflightsAllowed(topology, shopping.toGateway);
      // Off, the gateway serves any document: the console's gets an answer (costPrice is for admins only).
      const typed = await typedIntoConsole(shopping.page, topology.gateway, UNLISTED);
      expect(typed.status).toBe(200);
      expect(typed.body.data).toEqual({ topProducts: PRODUCTS.slice(0, 5).map((product) => ({ name: product.name, costPrice: null })) });
      expect(new Set(typed.body.errors?.map((error) => error.extensions?.code))).toEqual(new Set(['FORBIDDEN']));
      await shopping.context.close();
    });

    it('does not let a page on an origin CORS_ORIGINS does not name read the gateway\'s answers', async () => {
      const elsewhere = await serveTinyPage();
      // No routes in this context: Chromium sends its own preflight to the gateway, which is what is under test.
      const context = await browser.newContext();
      try {
        const requested: string[] = [];
        context.on('request', (request) => requested.push(new URL(request.url()).origin));
        const page = await context.newPage();
        await page.goto(elsewhere.url);
        const read = await page.evaluate(async (url) => {
          const body = JSON.stringify({ query: '{ topProducts(first: 1) { name } }' });
          const cors = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
            async (response) => `read ${response.status}: ${await response.text()}`,
            (error: unknown) => `rejected: ${String(error)}`,
          );
          const noCors = await fetch(url, { method: 'POST', mode: 'no-cors', body });
          return { cors, noCors: { type: noCors.type, status: noCors.status, body: await noCors.text() } };
        }, `${topology.gateway}/graphql`);
        expect(read).toEqual({ cors: 'rejected: TypeError: Failed to fetch', noCors: { type: 'opaque', status: 0, body: '' } });
        expect(new Set(requested)).toEqual(new Set([elsewhere.url.replace(/\/$/, ''), topology.gateway]));
      } finally {
        await context.close();
        await elsewhere.close();
      }
    });
  });

  describe('TRUSTED_DOCUMENTS=enforce', () => {
    let topology: Launched;
    beforeAll(async () => {
      topology = await launch({ TRUSTED_DOCUMENTS: 'enforce' });
    });
    afterAll(() => topology?.stop());

    it('serves the storefront\'s own operations, the same flow, and refuses a document typed into the page\'s console', async () => {
      const shopping = await shopAs(topology);
      const typed = await typedIntoConsole(shopping.page, topology.gateway, UNLISTED);
      expect(typed).toEqual({ status: 400, body: { errors: [expect.objectContaining({ extensions: { code: 'PERSISTED_QUERY_NOT_IN_LIST' } })] } });
      expect(shopping.aborted).toEqual([]);
      await shopping.context.close();
    });
  });
});

/** A page on another origin (another port of localhost), which the gateway's CORS_ORIGINS does not name. */
async function serveTinyPage(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Elsewhere</title><p>Another site.</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}/`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function missing(what: string): never {
  throw new Error(`the demo data has no ${what}`);
}
