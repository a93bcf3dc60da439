import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateway } from './cli.js';
import { postGraphQL, productionEnv, startStack, SUBGRAPH_NAMES, waitFor, type GraphQLResponse, type Stack } from './harness.js';


const received = (stack: Stack) => SUBGRAPH_NAMES.reduce((total, name) => total + stack.subgraphs[name].counter.received, 0);

async function post(stack: Stack, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${stack.url}/graphql`, { method: 'POST', headers, body });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

function deepQuery(levels: number): string {
  let selection = 'id';
  for (let level = 0; level < levels; level += 1) selection = level % 2 === 0 ? `reviews { author { ${selection} } }` : `reviews { product { reviews { id } } author { ${selection} } }`;
  return `{ user(id: "1") { ${selection} } }`;
}

describe('abusive requests are refused before any subgraph is called, and the next request is served', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  const fragmentSpreads = (count: number) => `fragment F on Product { name } { topProducts { ${Array.from({ length: count }, () => '...F @include(if: true)').join(' ')} } }`;

  it.each<[string, () => Promise<{ status: number; text: string }>, number, Record<string, unknown>]>([
    ['a deep query (16 levels)', () => post(stack, JSON.stringify({ query: deepQuery(16) })), 400, { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_DEPTH_EXCEEDED' }],
    ['depth hidden in fragments', () => post(stack, JSON.stringify({ query: `fragment A on User { reviews { author { ...B } } } fragment B on User { reviews { author { ...C } } } fragment C on User { reviews { author { ...D } } } fragment D on User { reviews { author { ...E } } } fragment E on User { reviews { author { ...G } } } fragment G on User { reviews { author { id } } } { user(id: "1") { ...A } }` })), 400, { validationErrorCode: 'MAX_DEPTH_EXCEEDED' }],
    ['1000 aliases (past the token limit first)', () => post(stack, JSON.stringify({ query: `{ ${Array.from({ length: 1000 }, (_, index) => `a${index}: topProducts { name }`).join(' ')} }` })), 400, { code: 'GRAPHQL_PARSE_FAILED' }],
    ['100 aliased topProducts', () => post(stack, JSON.stringify({ query: `{ ${Array.from({ length: 100 }, (_, index) => `a${index}: topProducts { upc }`).join(' ')} }` })), 400, { validationErrorCode: 'MAX_ALIASES_EXCEEDED' }],
    ['500 directives (past the token limit first)', () => post(stack, JSON.stringify({ query: fragmentSpreads(500) })), 400, { code: 'GRAPHQL_PARSE_FAILED' }],
    ['25 directives', () => post(stack, JSON.stringify({ query: fragmentSpreads(25) })), 400, { validationErrorCode: 'MAX_DIRECTIVES_EXCEEDED' }],
    ['5000 tokens (within the length limit)', () => post(stack, JSON.stringify({ query: `{ topProducts { ${'name '.repeat(5_000)} } }` })), 400, { code: 'GRAPHQL_PARSE_FAILED' }],
    ['a 300 KB document (past MAX_QUERY_LENGTH)', () => post(stack, JSON.stringify({ query: `{ topProducts { ${'name '.repeat(60_000)} } }` })), 413, { code: 'PAYLOAD_TOO_LARGE' }],
    ['a 2 MB body', () => post(stack, JSON.stringify({ query: `{ topProducts { name } } # ${'x'.repeat(2 * 1024 * 1024)}` })), 413, { code: 'PAYLOAD_TOO_LARGE' }],
    ['a batch of 50', () => post(stack, JSON.stringify(Array.from({ length: 50 }, () => ({ query: '{ topProducts { name } }' })))), 400, { code: 'BAD_REQUEST' }],
    ['a fragment cycle', () => post(stack, JSON.stringify({ query: 'fragment A on User { ...B } fragment B on User { ...A } { user(id: "1") { ...A } }' })), 400, { code: 'GRAPHQL_VALIDATION_FAILED' }],
    ['an undefined fragment', () => post(stack, JSON.stringify({ query: '{ user(id: "1") { ...Nowhere } }' })), 400, { code: 'GRAPHQL_VALIDATION_FAILED' }],
    ['a huge first: argument', () => post(stack, JSON.stringify({ query: '{ topProducts(first: 1000000) { name reviews { body } } }' })), 400, { validationErrorCode: 'MAX_COST_EXCEEDED' }],
    ['a huge first: in a variable', () => post(stack, JSON.stringify({ query: 'query ($n: Int) { topProducts(first: $n) { name reviews { body } } }', variables: { n: 1_000_000 } })), 400, { validationErrorCode: 'MAX_COST_EXCEEDED' }],
    ['createReview twice under aliases', () => post(stack, JSON.stringify({ query: 'mutation { a: createReview(upc: "1", body: "x", rating: 5) { id } b: createReview(upc: "1", body: "y", rating: 5) { id } }' })), 400, { validationErrorCode: 'FIELD_CAP_EXCEEDED' }],
    ['an empty operationName, which would slip past every check', () => post(stack, JSON.stringify({ query: 'mutation { createProduct(upc: "zz1", name: "Pwned", price: 1) { upc } }', operationName: '' })), 400, { code: 'OPERATION_RESOLUTION_FAILURE' }],
    ['an alias that claims the gateway\'s __authz_ prefix', () => post(stack, JSON.stringify({ query: '{ user(id: "1") { __authz_id: username email } }' })), 400, { validationErrorCode: 'RESERVED_ALIAS' }],
    ['null for a non-null @skip(if:) through a variable with a default', () => post(stack, JSON.stringify({ query: 'query ($s: Boolean = false) { topProducts @skip(if: $s) { name } }', variables: { s: null } })), 400, { code: 'BAD_USER_INPUT' }],
    ['null for a non-null argument through a variable with a default', () => post(stack, JSON.stringify({ query: 'query ($id: ID = "1") { user(id: $id) { name } }', variables: { id: null } })), 400, { code: 'BAD_USER_INPUT' }],
    ['a mutation over GET', async () => {
      const response = await fetch(`${stack.url}/graphql?${new URLSearchParams({ query: 'mutation { deleteReview(id: "1") }' })}`, { headers: { 'apollo-require-preflight': 'true' } });
      return { status: response.status, text: await response.text() };
    }, 405, {}],
    ['a text/plain POST (a CSRF attempt), refused unread', () => post(stack, JSON.stringify({ query: '{ topProducts { name } }' }), { 'content-type': 'text/plain' }), 415, { code: 'UNSUPPORTED_MEDIA_TYPE' }],
    ['a form POST', () => post(stack, 'query=%7B%20topProducts%20%7B%20name%20%7D%20%7D', { 'content-type': 'application/x-www-form-urlencoded' }), 415, { code: 'UNSUPPORTED_MEDIA_TYPE' }],
    ['a GET without a preflight header (a CSRF attempt)', async () => {
      const response = await fetch(`${stack.url}/graphql?${new URLSearchParams({ query: '{ topProducts { name } }' })}`);
      return { status: response.status, text: await response.text() };
    }, 400, { code: 'BAD_REQUEST' }],
    ['deeply nested JSON variables', () => post(stack, `{"query":"query ($v: String!) { product(upc: $v) { name } }","variables":{"v":${'['.repeat(5_000)}${']'.repeat(5_000)}}}`), 400, { code: 'BAD_USER_INPUT' }],
  ])('%s', async (_case, send, status, extensions) => {
    const before = received(stack);
    const response = await send();
    expect(response.status).toBe(status);
    if (Object.keys(extensions).length > 0) {
      const body = JSON.parse(response.text) as GraphQLResponse['body'];
      expect(body.data).toBeUndefined();
      // Several limits may trip at once (100 aliases are also 100 root fields): the expected one is among them.
      expect(body.errors).toContainEqual(expect.objectContaining({ extensions: expect.objectContaining(extensions) }));
    }
    expect(response.text).not.toMatch(/node_modules|at .*\.js:\d+/);
    expect(received(stack)).toBe(before);
    const next = await stack.query('{ topProducts(first: 1) { name } }');
    expect(next.body).toEqual({ data: { topProducts: [{ name: 'Table' }] } });
  });

  it('shows limit values in development, to help whoever writes the query', async () => {
    const body = JSON.parse((await post(stack, JSON.stringify({ query: deepQuery(16) }))).text) as GraphQLResponse['body'];
    expect(body.errors?.[0]).toMatchObject({ message: 'The operation exceeds the maximum depth (33, limit 10)', extensions: { limit: 10, actual: 33 } });
  });

  it('admits the benchmark query under every default limit', async () => {
    const { TEST_QUERY } = await import('./fixtures/testQuery.js');
    const response = await stack.query(TEST_QUERY, { headers: await stack.as({ subject: '1' }) });
    expect(response.status).toBe(200);
    expect(response.body.errors).toBeUndefined();
  });
});

describe('in production, limits say which limit but not its value', () => {
  it('hides the limit and the measured value', async () => {
    const stack = await startStack({ env: await productionEnv() });
    try {
      const deep = JSON.parse((await post(stack, JSON.stringify({ query: deepQuery(16) }))).text) as GraphQLResponse['body'];
      expect(deep.errors).toEqual([{ message: 'The operation exceeds the maximum depth', locations: expect.any(Array), extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_DEPTH_EXCEEDED' } }]);
      const tokens = JSON.parse((await post(stack, JSON.stringify({ query: `{ topProducts { ${'name '.repeat(5_000)} } }` }))).text) as GraphQLResponse['body'];
      expect(tokens.errors?.[0]?.message).toBe('Syntax Error: Document contains too many tokens. Parsing aborted.');
    } finally {
      await stack.stop();
    }
  });
});

describe('rate limiting by cost', () => {
  it('refuses a caller past their budget with 429, Retry-After and RateLimit headers, without calling a subgraph, until the window passes', async () => {
    const stack = await startStack({ env: { RATE_LIMIT_POINTS: '12', RATE_LIMIT_WINDOW_SEC: '2', PLAN_MISS_POINTS: '0' } });
    try {
      const alan = { headers: await stack.as({ subject: '2' }) };
      // topProducts(first: 5) { name } costs 5: two fit in 12 points, the third does not.
      const first = await stack.query('{ topProducts { name } }', alan);
      expect(first.status).toBe(200);
      expect(first.headers.get('ratelimit-limit')).toBe('12');
      expect(first.headers.get('ratelimit-remaining')).toBe('7');
      expect((await stack.query('{ topProducts { name } }', alan)).headers.get('ratelimit-remaining')).toBe('2');
      const before = received(stack);
      const refused = await stack.query('{ topProducts { name } }', alan);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      expect(refused.body).toEqual({ errors: [{ message: 'Too many requests: the rate limit for this caller is used up; retry later', extensions: { code: 'RATE_LIMITED' } }] });
      expect(received(stack)).toBe(before);

      // Another caller has a budget of their own; anonymous callers are counted by address.
      expect((await stack.query('{ topProducts { name } }', { headers: await stack.as({ subject: '3' }) })).status).toBe(200);
      expect((await stack.query('{ topProducts { name } }')).status).toBe(200);

      await waitFor(async () => (await stack.query('{ topProducts { name } }', alan)).status === 200, 5_000);
    } finally {
      await stack.stop();
    }
  });

  it('charges at least a point for an operation estimated to cost nothing', async () => {
    const stack = await startStack({ env: { RATE_LIMIT_POINTS: '3', RATE_LIMIT_WINDOW_SEC: '30', PLAN_MISS_POINTS: '0' } });
    try {
      const statuses: number[] = [];
      for (let index = 0; index < 4; index += 1) statuses.push((await stack.query('{ topProducts(first: 0) { name } }')).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await stack.stop();
    }
  });

  it('shares one budget between two gateways through Redis', async () => {
    const env = { RATE_LIMIT_POINTS: '12', RATE_LIMIT_WINDOW_SEC: '30', REDIS_URL: 'redis://127.0.0.1:6379', PLAN_MISS_POINTS: '0' };
    const one = await startStack({ env });
    const two = await startStack({ env });
    const query = async (stack: Stack, subject: string) => stack.query('{ topProducts { name } }', { headers: await stack.as({ subject }) });
    try {
      // Each replica connects to Redis in the background and counts in memory until then: wait until a charge made
      // through one shows in the other (remaining 2 of 12 after two charges of 5, not 7).
      await waitFor(async () => {
        const probe = `probe-${randomUUID()}`;
        await query(one, probe);
        return (await query(two, probe)).headers.get('ratelimit-remaining') === '2';
      });
      const caller = `shared-${randomUUID()}`;
      expect((await query(one, caller)).status).toBe(200);
      expect((await query(one, caller)).status).toBe(200);
      // In memory, the second gateway would still have all 12 points for this caller.
      const refused = await query(two, caller);
      expect(refused.status).toBe(429);
      expect(refused.body.errors?.[0]?.extensions?.['code']).toBe('RATE_LIMITED');
    } finally {
      await one.stop();
      await two.stop();
    }
  });
});

describe('the client address of anonymous callers', () => {
  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    const env = { RATE_LIMIT_POINTS: '5', RATE_LIMIT_WINDOW_SEC: '30', PLAN_MISS_POINTS: '0' };
    const spoofable = await startStack({ env });
    const behindProxy = await startStack({ env: { ...env, TRUSTED_PROXIES: '127.0.0.1' } });
    const query = (stack: Stack, forwardedFor: string) => stack.query('{ topProducts { name } }', { headers: { 'x-forwarded-for': forwardedFor } });
    try {
      // Untrusted: the header is ignored, both requests are the same caller (127.0.0.1), the second is over budget.
      expect((await query(spoofable, '203.0.113.1')).status).toBe(200);
      expect((await query(spoofable, '203.0.113.2')).status).toBe(429);
      // Behind a trusted proxy: each forwarded address has its own budget.
      expect((await query(behindProxy, '203.0.113.1')).status).toBe(200);
      expect((await query(behindProxy, '203.0.113.2')).status).toBe(200);
      expect((await query(behindProxy, '203.0.113.1')).status).toBe(429);
    } finally {
      await spoofable.stop();
      await behindProxy.stop();
    }
  });
});

describe('hiding the backends', () => {
  let stack: Stack;
  let server: Server;
  let answer: (body: string) => void = () => undefined;
  let delayMs = 0;
  let reply = '{}';

  beforeAll(async () => {
    // A stand-in for the inventory subgraph that answers what a test tells it to.
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        setTimeout(() => {
          response.writeHead(200, { 'content-type': 'application/json' }).end(reply);
          answer(reply);
        }, delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    stack = await startStack({ env: { SUBGRAPH_INVENTORY_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, SUBGRAPH_INVENTORY_TIMEOUT_MS: '300' } });
  });
  afterAll(async () => {
    await stack.stop();
    server.closeAllConnections();
    server.close();
  });

  it('masks a subgraph error that carries internals, and logs it in full under the request id', async () => {
    delayMs = 0;
    reply = JSON.stringify({ data: { _entities: [null] }, errors: [{ message: 'connect to 10.1.2.3:5432 failed: SELECT cost FROM stock', path: ['_entities', 0, 'inStock'], extensions: { code: 'DATABASE_ERROR', stacktrace: ['at query (/srv/inventory/db.js:12:3)'] } }] });
    const response = await stack.query('{ product(upc: "1") { name inStock } }', { headers: { 'x-request-id': 'masking-check' } });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ product: { name: 'Table', inStock: null } });
    expect(response.body.errors?.map((error) => [error.message, error.extensions])).toEqual([['Internal server error', { code: 'INTERNAL_SERVER_ERROR' }]]);
    expect(JSON.stringify(response.body)).not.toMatch(/10\.1\.2\.3|SELECT|inventory|serviceName|stacktrace|DATABASE_ERROR/);
    const logged = stack.logs.find((entry) => entry['requestId'] === 'masking-check' && String(entry['msg']).includes('10.1.2.3'));
    expect(logged).toBeDefined();
  });

  it('passes a subgraph error with a public code through, message and all', async () => {
    reply = JSON.stringify({ data: { _entities: [null] }, errors: [{ message: 'Stock for this product is not tracked', path: ['_entities', 0, 'inStock'], extensions: { code: 'NOT_FOUND' } }] });
    const response = await stack.query('{ product(upc: "1") { inStock } }');
    expect(response.body.errors?.map((error) => [error.message, error.extensions])).toEqual([['Stock for this product is not tracked', { code: 'NOT_FOUND' }]]);
  });

  it('answers with a partial result when a subgraph is slower than its deadline', async () => {
    delayMs = 2_000;
    reply = JSON.stringify({ data: { _entities: [{ inStock: true }] } });
    const response = await stack.query('{ product(upc: "1") { name inStock } }');
    expect(response.body.data).toEqual({ product: { name: 'Table', inStock: null } });
    expect(response.body.errors?.map((error) => error.extensions?.['code'])).toEqual(['SERVICE_UNAVAILABLE']);
    delayMs = 0;
  });
});

describe('browsers', () => {
  it('answers CORS only for listed origins, and sends security headers', async () => {
    const stack = await startStack({ env: { CORS_ORIGINS: 'https://app.example.com' } });
    try {
      const preflight = (origin: string) =>
        fetch(`${stack.url}/graphql`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
      const allowed = await preflight('https://app.example.com');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
      const other = await preflight('https://evil.example.com');
      expect(other.headers.get('access-control-allow-origin')).toBeNull();

      const response = await fetch(`${stack.url}/health`);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('x-powered-by')).toBeNull();
    } finally {
      await stack.stop();
    }
  });

  it('sends a strict content security policy in production', async () => {
    const stack = await startStack({ env: await productionEnv() });
    try {
      const response = await postGraphQL(stack.url, '{ topProducts(first: 1) { name } }');
      expect(response.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
    } finally {
      await stack.stop();
    }
  });
});

describe('npm run check:config', () => {
  it('prints the effective settings and passes a sound production configuration', async () => {
    const env = await productionEnv();
    const { code, stdout } = await gateway(['check'], { env });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^introspection +off$/m);
    expect(stdout).toMatch(/^field caps +Mutation.createReview=1$/m);
    expect(stdout).toContain('Verdict: the gateway would start.');
  });

  it('fails, listing every problem, on a production configuration with protections off', async () => {
    const env = { ...(await productionEnv()), INTROSPECTION: 'true', MAX_DEPTH: '0' };
    await expect(gateway(['check'], { env })).resolves.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/INTROSPECTION must be off in production[\s\S]*MAX_DEPTH=0 turns a limit off[\s\S]*would refuse to start/),
    });
  });
});
