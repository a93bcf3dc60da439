import { sha256Hex } from '../src/trustedDocuments/manifest.js';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleStorefront } from '../frontend/build/bundle.js';
import { checkManifest } from '../frontend/build/manifest.js';
import { createStorefrontServer, type StorefrontServer } from '../frontend/server/storefrontServer.js';
import { CLIENT_NAME, createStorefrontClient } from '../frontend/src/client.js';
import type { DevSignInResponse, StorefrontRuntimeConfig } from '../frontend/src/runtimeConfig.js';
import { createLogger } from '../src/common/index.js';
import { apiSchemaOf } from '../src/authz/accessMatrix.js';
import { USERS } from '../subgraphs/accounts/data.js';
import { COMMITTED_SUPERGRAPH, startStack, type Stack } from './harness.js';

const ROOT = new URL('..', import.meta.url).pathname;
const FRONTEND = join(ROOT, 'frontend');
const OPERATIONS = join(FRONTEND, 'src', 'operations');
const run = promisify(execFile);
const quiet = createLogger({ level: 'silent' });

interface Manifest {
  format: string;
  version: number;
  operations: { id: string; name: string; type: string; body: string }[];
}
const committedManifest = JSON.parse(await readFile(join(FRONTEND, 'persisted-query-manifest.json'), 'utf8')) as Manifest;
const idOf = (name: string) => committedManifest.operations.find((operation) => operation.name === name)?.id;
const documentOf = async (name: string) => parse(await readFile(join(OPERATIONS, `${name}.graphql`), 'utf8'));

let staticDir: string;
let scriptBytes: number;
beforeAll(async () => {
  staticDir = await mkdtemp(join(tmpdir(), 'storefront-static-'));
  ({ scriptBytes } = await bundleStorefront({ frontendDir: FRONTEND, outDir: staticDir, version: '0.0.0-test' }));
});
afterAll(async () => {
  await rm(staticDir, { recursive: true, force: true });
});

describe('the persisted-query manifest', () => {
  it('is what Apollo\'s generator makes of frontend/src/operations now (npm run check:manifest)', async () => {
    const check = await checkManifest(ROOT);
    expect(check.generated).toEqual(committedManifest);
    expect(check.upToDate).toBe(true);
  });

  it('is format apollo-persisted-query-manifest version 1, one named operation per .graphql file, each id the SHA-256 of its body', async () => {
    expect(committedManifest).toMatchObject({ format: 'apollo-persisted-query-manifest', version: 1 });
    const files = (await readdir(OPERATIONS)).filter((file) => file.endsWith('.graphql')).sort();
    expect(committedManifest.operations.map((operation) => `${operation.name}.graphql`).sort()).toEqual(files);
    for (const operation of committedManifest.operations) {
      expect(operation.id).toBe(createHash('sha256').update(operation.body).digest('hex'));
    }
  });

  it.each(committedManifest.operations.map((operation) => [operation.name, operation] as const))('%s validates against the supergraph\'s API schema', async (_name, operation) => {
    const schema = apiSchemaOf(await readFile(COMMITTED_SUPERGRAPH, 'utf8'));
    expect(validate(schema, parse(operation.body)).map((error) => error.message)).toEqual([]);
  });
});

describe('the bundle', () => {
  it('is one ES module that carries the manifest\'s ids, the client\'s name and version, and no development build of Apollo Client', async () => {
    const script = await readFile(join(staticDir, 'app.js'), 'utf8');
    // Booleans, not toContain: a failure should not print the whole bundle.
    const missing = [...committedManifest.operations.map((operation) => operation.id), `"${CLIENT_NAME}"`, '"0.0.0-test"'].filter((text) => !script.includes(text));
    expect(missing).toEqual([]);
    // Apollo Client's `production` condition fixes `__DEV__` at false (its default build reads `globalThis.__DEV__`).
    expect(script.includes('__DEV__')).toBe(false);
    // 224 KiB today (Apollo Client 125 KiB, graphql-js 46 KiB, rxjs 27 KiB): a much bigger one has picked up a second copy of something.
    expect(scriptBytes).toBeLessThan(300 * 1024);
  });
});

describe('the storefront client', () => {
  it('sends the manifest\'s id as extensions.persistedQuery.sha256Hash, without the document, with the client\'s name, version and the token', async () => {
    const requests: { url: string; headers: Headers; body: Record<string, unknown> }[] = [];
    const client = createStorefrontClient({
      graphqlUrl: 'http://gateway.test/graphql',
      manifest: committedManifest,
      clientVersion: '9.9.9',
      token: () => 'a-token',
      fetch: async (url, init) => {
        requests.push({ url: String(url), headers: new Headers(init?.headers), body: JSON.parse(String(init?.body)) as Record<string, unknown> });
        const data = { me: { __typename: 'User', id: '1', name: 'Ada Lovelace', email: 'ada@example.com' } };
        return new Response(JSON.stringify({ data }), { headers: { 'content-type': 'application/graphql-response+json' } });
      },
    });
    const result = await client.query({ query: await documentOf('Me') });
    expect(result.data).toEqual({ me: { __typename: 'User', id: '1', name: 'Ada Lovelace', email: 'ada@example.com' } });
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.url).toBe('http://gateway.test/graphql');
    expect(request?.body).toEqual({ operationName: 'Me', variables: {}, extensions: { persistedQuery: { version: 1, sha256Hash: idOf('Me') } } });
    expect(Object.fromEntries(request?.headers ?? [])).toMatchObject({
      'apollographql-client-name': 'storefront',
      'apollographql-client-version': '9.9.9',
      authorization: 'Bearer a-token',
    });
  });
});

describe('the storefront server, in development', () => {
  let stack: Stack;
  let keyDir: string;
  let storefront: StorefrontServer;
  let url: string;

  beforeAll(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'storefront-dev-key-'));
    const keyFile = join(keyDir, 'dev-issuer-key.json');
    // The gateway trusts the development issuer whose key is in DEV_KEY_FILE; the storefront signs with the same file.
    // Automatic persisted queries on: today's gateway learns a document from the client's retry.
    stack = await startStack({ env: { DEV_KEY_FILE: keyFile, AUTOMATIC_PERSISTED_QUERIES: 'true' } });
    storefront = createStorefrontServer({
      host: '127.0.0.1',
      port: 0,
      staticDir,
      graphqlUrl: new URL('/graphql', stack.url),
      signIn: { mode: 'development', keyFile, users: USERS, ttlSec: 300 },
      logger: quiet,
    });
    ({ url } = await storefront.start());
  });
  afterAll(async () => {
    await storefront?.stop();
    await stack?.stop();
    await rm(keyDir, { recursive: true, force: true });
  });

  const signIn = (body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(`${url}/dev/sign-in`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it.each([
    ['/', 'text/html; charset=utf-8', 'index.html'],
    ['/index.html', 'text/html; charset=utf-8', 'index.html'],
    ['/app.js', 'text/javascript; charset=utf-8', 'app.js'],
    ['/styles.css', 'text/css; charset=utf-8', 'styles.css'],
    ['/favicon.svg', 'image/svg+xml', 'favicon.svg'],
  ])('serves %s as %s with the page\'s security headers', async (path, contentType, file) => {
    const response = await fetch(`${url}${path}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(contentType);
    expect(Buffer.from(await response.arrayBuffer()).equals(await readFile(join(staticDir, file)))).toBe(true);
    expect(response.headers.get('content-security-policy')?.split('; ')).toEqual([
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self'",
      `connect-src 'self' ${new URL(stack.url).origin}`,
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
      "require-trusted-types-for 'script'",
      "trusted-types 'none'",
    ]);
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': 'no-cache',
    });
  });

  it('serves a page whose only script and stylesheet are its own files (the CSP allows no inline code)', async () => {
    const html = await (await fetch(url)).text();
    expect([...html.matchAll(/<script\b[^>]*>/g)].map((match) => match[0])).toEqual(['<script type="module" src="/app.js">']);
    expect(html).not.toMatch(/<style\b|\bstyle=|\bon[a-z]+=/);
    for (const id of ['product-list', 'sign-in-form', 'sign-in-user', 'sign-in-button', 'sign-in-external', 'sign-out-button', 'profile', 'profile-name', 'profile-email', 'review-form', 'review-product', 'review-rating', 'review-body', 'review-submit', 'posted-review', 'errors', 'error-list']) {
      expect(html).toContain(`id="${id}" data-testid="${id}"`);
    }
  });

  it('answers 304 to a revalidation of an unchanged file', async () => {
    const first = await fetch(`${url}/app.js`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await fetch(`${url}/app.js`, { headers: { 'if-none-match': etag ?? '' } });
    expect(again.status).toBe(304);
  });

  it('serves /config.json: the gateway\'s GraphQL URL and the development sign-in with the demo users', async () => {
    const response = await fetch(`${url}/config.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await response.json()).toEqual({
      graphqlUrl: `${stack.url}/graphql`,
      signIn: { mode: 'development', path: '/dev/sign-in', users: USERS.map(({ id, name }) => ({ id, name })) },
    } satisfies StorefrontRuntimeConfig);
  });

  it('signs in a demo user with a short-lived token the gateway accepts', async () => {
    const response = await signIn({ userId: '1' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as DevSignInResponse;
    expect(body.user).toEqual({ id: '1', name: 'Ada Lovelace' });
    const now = Math.floor(Date.now() / 1000);
    expect(body.expiresAt).toBeGreaterThan(now + 290);
    expect(body.expiresAt).toBeLessThanOrEqual(now + 301);
    const me = await stack.query('{ me { name } }', { headers: { authorization: `Bearer ${body.token}` } });
    expect(me).toMatchObject({ status: 200, body: { data: { me: { name: 'Ada Lovelace' } } } });
    expect(me.body.errors).toBeUndefined();
  });

  it.each<[string, () => Promise<Response>, number]>([
    ['an unknown user', () => signIn({ userId: '7' }), 400],
    ['a body that is not JSON', () => signIn('userId=1'), 400],
    ['a form post (not application/json)', () => signIn('userId=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415],
    ['a body over 1 KiB', () => signIn({ userId: '1', padding: 'x'.repeat(2048) }), 413],
    ['a GET', () => fetch(`${url}/dev/sign-in`), 405],
  ])('refuses to sign in %s', async (_case, request, status) => {
    const response = await request();
    expect(response.status).toBe(status);
    expect(await response.json()).not.toHaveProperty('token');
  });

  it.each(['/package.json', '/../package.json', '/%2e%2e/package.json', '/dist/frontend/public/app.js', '/app.js.map'])('serves nothing else: %s is 404', async (path) => {
    const response = await fetch(`${url}${path}`);
    expect(response.status).toBe(404);
  });

  it('runs the page\'s operations against the gateway through Apollo Client, as the signed-in user', async () => {
    const { token } = (await (await signIn({ userId: '2' })).json()) as DevSignInResponse;
    const sent: Record<string, unknown>[] = [];
    const client = createStorefrontClient({
      graphqlUrl: `${stack.url}/graphql`,
      manifest: committedManifest,
      clientVersion: '0.0.0-test',
      token: () => token,
      fetch: async (input, init) => {
        sent.push(JSON.parse(String(init?.body)) as Record<string, unknown>);
        return fetch(input, init);
      },
    });

    const products = await client.query({ query: await documentOf('TopProducts') });
    expect(products.error).toBeUndefined();
    expect((products.data as { topProducts: unknown[] }).topProducts).toHaveLength(5);
    const me = await client.query({ query: await documentOf('Me') });
    expect(me).toMatchObject({ data: { me: { id: '2', name: 'Alan Turing', email: 'alan@example.com' } } });
    const created = await client.mutate({ mutation: await documentOf('CreateReview'), variables: { upc: '3', body: 'Sturdy and light.', rating: 4 } });
    expect(created.error).toBeUndefined();
    expect(created.data).toMatchObject({ createReview: { body: 'Sturdy and light.', rating: 4, author: { id: '2', username: '@complete' }, product: { upc: '3' } } });

    // Each operation went out once, as its manifest id alone: the gateway's trusted list (the demo config module names
    // this manifest) knows it, and the id is the SHA-256 of the manifest's body.
    for (const name of ['TopProducts', 'Me', 'CreateReview']) {
      const mine = sent.filter((body) => body['operationName'] === name);
      expect(mine.map((body) => (body['extensions'] as { persistedQuery: { sha256Hash: string } }).persistedQuery.sha256Hash)).toEqual([idOf(name)]);
      expect(mine[0]).not.toHaveProperty('query');
      expect(idOf(name)).toBe(sha256Hex(committedManifest.operations.find((operation) => operation.name === name)?.body ?? ''));
    }
  });
});

describe('the storefront server, in production', () => {
  let storefront: StorefrontServer;
  let url: string;

  beforeAll(async () => {
    storefront = createStorefrontServer({ host: '127.0.0.1', port: 0, staticDir, graphqlUrl: new URL('https://api.example.com/graphql'), signIn: { mode: 'identity-provider' }, logger: quiet });
    ({ url } = await storefront.start());
  });
  afterAll(async () => {
    await storefront?.stop();
  });

  it('tells the page that sign-in is the identity provider\'s', async () => {
    expect(await (await fetch(`${url}/config.json`)).json()).toEqual({ graphqlUrl: 'https://api.example.com/graphql', signIn: { mode: 'identity-provider' } });
  });

  it.each(['POST', 'GET'])('has no development sign-in: %s /dev/sign-in is 404', async (method) => {
    const response = await fetch(`${url}/dev/sign-in`, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{"userId":"1"}' } : {}) });
    expect(response.status).toBe(404);
    expect(await response.json()).not.toHaveProperty('token');
  });

  it('allows connections to the production gateway\'s origin only', async () => {
    const response = await fetch(url);
    expect(response.headers.get('content-security-policy')).toContain("connect-src 'self' https://api.example.com;");
  });
});

describe('the storefront server process (dist/frontend/server/main.js)', () => {
  const main = join(ROOT, 'dist', 'frontend', 'server', 'main.js');
  const baseEnv = () => ({ PATH: process.env['PATH'], APOLLO_TELEMETRY_DISABLED: 'true', STOREFRONT_STATIC_DIR: staticDir, PORT: '0' });

  it.each<[string, Record<string, string>, string]>([
    ['a non-loopback HOST in development', { HOST: '0.0.0.0' }, 'HOST=0.0.0.0 would offer the development sign-in to the network'],
    ['an http gateway off localhost in production', { NODE_ENV: 'production', GATEWAY_GRAPHQL_URL: 'http://api.example.com/graphql' }, 'GATEWAY_GRAPHQL_URL must be https in production'],
    ['a PORT that is no port', { PORT: 'eighty' }, 'PORT'],
  ])('refuses to start with %s, saying why', async (_case, env, message) => {
    const refused = await run('node', [main], { cwd: ROOT, env: { ...baseEnv(), ...env } }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Invalid configuration for the storefront:');
    expect(refused.stderr).toContain(message);
  });

  it('logs where it listens, serves, and stops on SIGTERM', async () => {
    const child = spawn('node', [main], { cwd: ROOT, env: { ...baseEnv(), NODE_ENV: 'production', GATEWAY_GRAPHQL_URL: 'http://localhost:4000/graphql' }, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: child.stdout });
      let listening: { url: string; signIn: string } | undefined;
      for await (const line of lines) {
        const entry = JSON.parse(line) as { msg: string; url: string; signIn: string };
        if (entry.msg === 'listening') {
          listening = entry;
          break;
        }
      }
      expect(listening?.signIn).toBe('identity-provider');
      const config = (await (await fetch(`${listening?.url}/config.json`)).json()) as StorefrontRuntimeConfig;
      expect(config).toEqual({ graphqlUrl: 'http://localhost:4000/graphql', signIn: { mode: 'identity-provider' } });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
