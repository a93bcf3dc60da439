import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { allow, deny } from 'graphql-shield';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL, startStack, SUBGRAPH_NAMES, type GraphQLResponse, type Stack } from './harness.js';

const received = (stack: Stack) => SUBGRAPH_NAMES.reduce((total, name) => total + stack.subgraphs[name].counter.received, 0);

const DEEP_LEAF = 'topProducts { reviews { author { reviews { product { reviews { author { reviews { product { reviews { author { id } } } } } } } } } } }';

/** `query Bomb { ...Fn }` where F0 selects `leaf` and each Fi spreads F(i-1) twice. */
function bomb(levels: number, leaf: string): string {
  let text = `query Bomb { ...F${levels} } fragment F0 on Query { ${leaf} }`;
  for (let level = 1; level <= levels; level += 1) text += ` fragment F${level} on Query { ...F${level - 1} ...F${level - 1} }`;
  return text;
}

const NORMAL = '{ topProducts(first: 2) { name } }';
const NORMAL_ANSWER = { data: { topProducts: [{ name: 'Table' }, { name: 'Couch' }] } };

describe('documents that expand past MAX_EXPANDED_SELECTIONS are refused before any walk of them', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  it.each<[string, string]>([
    ['a deep selection doubled 20 times (953 bytes)', bomb(20, DEEP_LEAF)],
    ['a costed leaf doubled 20 times', bomb(20, 'topProducts { name }')],
    ['an unknown field doubled 20 times', bomb(20, 'nope')],
    ['__typename doubled 20 times (valid, and free to run)', bomb(20, '__typename')],
    ['a bomb behind a variable and @include', `query Bomb($on: Boolean = true) ${bomb(20, 'topProducts @include(if: $on) { name }').slice('query Bomb '.length)}`],
  ])('%s: 400 MAX_RECURSIVE_SELECTIONS_EXCEEDED, and a query sent beside it is served', async (_case, query) => {
    expect(query.length).toBeLessThan(1_100);
    const before = received(stack);
    const [refused, normal] = await Promise.all([stack.query(query), stack.query(NORMAL)]);
    expect(refused.status).toBe(400);
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors).toContainEqual(expect.objectContaining({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_RECURSIVE_SELECTIONS_EXCEEDED' } }));
    expect(normal.body).toEqual(NORMAL_ANSWER);
    // Only the normal query reached the subgraphs (products, once).
    expect(received(stack) - before).toBe(1);
  });

  it.each<[string, string]>([
    ['one field repeated 490 times (10 KB, within the token limit)', `{ ${'topProducts { name } '.repeat(490)} }`],
    ['160 fragments spread in one selection set', `${Array.from({ length: 160 }, (_, index) => `fragment F${index} on Product { name }`).join(' ')} { topProducts { ${Array.from({ length: 160 }, (_, index) => `...F${index}`).join(' ')} } }`],
  ])('%s: 400 MAX_SELECTION_PAIRS_EXCEEDED before graphql-js compares them, and a query beside it is served', async (_case, query) => {
    const before = received(stack);
    const [refused, normal] = await Promise.all([stack.query(query), stack.query(NORMAL)]);
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ errors: [{ message: 'The operation selects too many overlapping fields or fragments in one selection set', extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_SELECTION_PAIRS_EXCEEDED' } }] });
    expect(normal.body).toEqual(NORMAL_ANSWER);
    expect(received(stack) - before).toBe(1);
  });

  it('refuses a doubling small enough to expand for its depth, found without expanding', async () => {
    const response = await stack.query(bomb(4, DEEP_LEAF));
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_DEPTH_EXCEEDED' }) })]);
  });

  it('costs a repeated spread once, as execution merges it', async () => {
    // Merged: 50 × (1 + 100) = 5050, under MAX_COST; counted three times it would be 15050, and refused.
    const response = await stack.query('fragment R on Product { reviews(first: 100) { id } } { topProducts(first: 50) { ...R ...R ...R } }');
    expect(response.status).toBe(200);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.['topProducts']).toHaveLength(9);
  });

  it.each<[string, string, Record<string, unknown>, number, Record<string, unknown>]>([
    ['a subscription on a graph that has none', 'subscription { topProducts { name } }', {}, 400, { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'OPERATION_NOT_SUPPORTED' }],
    ['a negative slicing argument, which would zero the cost of what it slices', '{ topProducts(first: -1) { reviews(first: 100) { author { reviews(first: 100) { body } } } } }', {}, 400, { code: 'BAD_USER_INPUT' }],
    ['a negative slicing argument through a variable', 'query ($n: Int) { topProducts(first: $n) { name } }', { n: -1 }, 400, { code: 'BAD_USER_INPUT' }],
  ])('refuses %s with a clear code', async (_case, query, variables, status, extensions) => {
    const before = received(stack);
    const response = await stack.query(query, { variables });
    expect(response.status).toBe(status);
    expect(response.body.errors?.[0]?.extensions).toEqual(extensions);
    expect(received(stack)).toBe(before);
  });
});

describe('a document is refused past MAX_QUERY_LENGTH characters, and a cached one is measured with its source', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { MAX_QUERY_LENGTH: '1000' } });
  });
  afterAll(() => stack.stop());

  it.each<[string, () => Promise<Response>]>([
    ['a POST whose query hides behind a comment', () => fetch(`${stack.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ topProducts { name } } #${'x'.repeat(1_000)}` }) })],
    ['a GET', () => fetch(`${stack.url}/graphql?${new URLSearchParams({ query: `{ topProducts { name } }${' '.repeat(1_000)}` })}`, { headers: { 'apollo-require-preflight': 'true' } })],
  ])('answers %s with 413 PAYLOAD_TOO_LARGE, before parsing', async (_case, send) => {
    const before = received(stack);
    const response = await send();
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ errors: [{ message: 'The GraphQL document is longer than 1000 characters', extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
    expect(received(stack)).toBe(before);
    expect((await stack.query(NORMAL)).body).toEqual(NORMAL_ANSWER);
  });

  it('keeps only as many cached documents as their source text fits in the cache', async () => {
    const { createDocumentStore } = await import('../src/limits/documentStore.js');
    const { parse } = await import('graphql');
    const store = createDocumentStore(1);
    // 20 documents of 20 tokens behind a 100 000-character comment: 4 MB of source, for a 1 MiB cache.
    for (let index = 0; index < 20; index += 1) await store.set(`d${index}`, parse(`{ topProducts { name } } #${'x'.repeat(100_000)}${index}`));
    expect(store.keys().length).toBeLessThanOrEqual(5);
    expect(store.keys().length).toBeGreaterThan(0);
  });
});

describe('errors and logs stay small whatever the document', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { LOG_LEVEL: 'debug' } });
  });
  afterAll(() => stack.stop());

  it('answers 101 unknown directives with at most MAX_ERRORS errors, and logs one short line without a stack', async () => {
    const query = `{ topProducts { name ${Array.from({ length: 101 }, (_, index) => `@d${index}`).join(' ')} } }`;
    const requestId = 'many-directives-1';
    const response = await stack.query(query, { headers: { 'x-request-id': requestId } });
    expect(response.status).toBe(400);
    expect(response.body.errors).toHaveLength(10);
    expect(response.body.errors?.[0]).toMatchObject({ message: 'Unknown directive "@d0".', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    // graphql-js stops validating there, and says so.
    expect(response.body.errors?.[9]).toEqual({ message: 'Too many validation errors, error limit reached. Validation aborted.', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    const lines = stack.logs.filter((line) => line['requestId'] === requestId && line['msg'] !== 'request');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 20, errors: 10, msg: 'request refused: Unknown directive "@d0".' });
    expect(JSON.stringify(lines)).not.toMatch(/stack|at .*\.js:\d+/);
    expect(JSON.stringify(lines).length).toBeLessThan(1_000);
  });

  it('cuts a message that quotes a huge variable value', async () => {
    const response = await stack.query('query ($n: Int) { topProducts(first: $n) { name } }', { variables: { n: 'A'.repeat(20_000) } });
    expect(response.status).toBe(400);
    const message = response.body.errors?.[0]?.message ?? '';
    expect(message).toMatch(/^Variable "\$n" got invalid value "AAAA+…$/);
    expect(message.length).toBe(501);
  });

  it('cuts a long message in the log to an excerpt', async () => {
    const requestId = 'long-name-1';
    const name = `f${'x'.repeat(1_500)}`;
    const response = await stack.query(`{ ${name} }`, { headers: { 'x-request-id': requestId } });
    expect(response.status).toBe(400);
    const line = stack.logs.find((entry) => entry['requestId'] === requestId && entry['msg'] !== 'request');
    expect(String(line?.['msg'])).toMatch(/^request refused: Cannot query field "fx+…$/);
    expect(String(line?.['msg']).length).toBeLessThan(260);
  });
});

describe('MAX_ERRORS bounds the errors of an answer', () => {
  it('keeps the first ones, and says how many more there were', async () => {
    const stack = await startStack({ env: { MAX_ERRORS: '3' } });
    try {
      // Each user's email but the caller's own is denied, decided on the data: 5 errors from execution.
      const response = await stack.query('{ users { id email } }', { headers: await stack.as({ subject: '1' }) });
      expect(response.status).toBe(200);
      expect(response.body.data?.['users']).toHaveLength(6);
      expect(response.body.errors).toEqual([
        expect.objectContaining({ extensions: { code: 'FORBIDDEN' }, path: ['users', 1, 'email'] }),
        expect.objectContaining({ extensions: { code: 'FORBIDDEN' }, path: ['users', 2, 'email'] }),
        { message: '3 more errors were left out of this answer', extensions: { code: 'TOO_MANY_ERRORS' } },
      ]);
    } finally {
      await stack.stop();
    }
  });
});

describe('the access policy\'s own errors reach the caller with their code', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  it('keeps the code of a fallback error the policy chose, on a query as on a mutation', async () => {
    const policyStack = await startStack({
      policy: { ruleTree: { Query: { topProducts: deny, me: allow }, User: { id: allow } }, options: { fallbackError: new GraphQLError('Nothing here', { extensions: { code: 'NOT_FOUND' } }) } },
    });
    try {
      const response = await policyStack.query('{ topProducts { name } }');
      expect(response.body).toEqual({ data: { topProducts: null }, errors: [{ message: 'Nothing here', locations: [{ line: 1, column: 3 }], path: ['topProducts'], extensions: { code: 'NOT_FOUND' } }] });
    } finally {
      await policyStack.stop();
    }
  });

  it('answers deleteReview of a review that does not exist with NOT_FOUND, before the mutation runs', async () => {
    const response = await stack.query('mutation { deleteReview(id: "9999") }', { headers: await stack.as({ subject: '1' }) });
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ errors: [{ message: 'No review with this id', extensions: { code: 'NOT_FOUND' } }] });
    expect(stack.subgraphs.reviews.counter.count('Mutation.deleteReview')).toBe(0);
  });
});

describe('automatic persisted queries', () => {
  const query = '{ topProducts(first: 2) { name } }';
  const sha256Hash = createHash('sha256').update(query).digest('hex');
  const persisted = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });
  const post = async (stack: Stack, body: Record<string, unknown>): Promise<GraphQLResponse> => {
    const response = await fetch(`${stack.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] };
  };

  it('are off by default: a hash alone is answered PERSISTED_QUERY_NOT_SUPPORTED, so clients send the query', async () => {
    const stack = await startStack();
    try {
      const response = await post(stack, { extensions: persisted(sha256Hash) });
      expect(response.body).toEqual({ errors: [{ message: 'PersistedQueryNotSupported', extensions: { code: 'PERSISTED_QUERY_NOT_SUPPORTED' } }] });
    } finally {
      await stack.stop();
    }
  });

  it('when on, refuse a hash that does not match its query with 400 PERSISTED_QUERY_HASH_MISMATCH, and serve one that does', async () => {
    const stack = await startStack({ env: { AUTOMATIC_PERSISTED_QUERIES: 'true' } });
    try {
      const before = received(stack);
      const mismatch = await post(stack, { query, extensions: persisted('0'.repeat(64)) });
      expect(mismatch.status).toBe(400);
      expect(mismatch.body).toEqual({ errors: [{ message: 'The persisted query hash does not match the query sent with it', extensions: { code: 'PERSISTED_QUERY_HASH_MISMATCH' } }] });
      expect(received(stack)).toBe(before);

      expect((await post(stack, { query, extensions: persisted(sha256Hash) })).body).toEqual(NORMAL_ANSWER);
      expect((await post(stack, { extensions: persisted(sha256Hash) })).body).toEqual(NORMAL_ANSWER);
    } finally {
      await stack.stop();
    }
  });
});

describe('the rate budget charges what the gateway does', () => {
  let stack: Stack;
  let caller: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({ env: { RATE_LIMIT_POINTS: '10000', RATE_LIMIT_WINDOW_SEC: '600', PLAN_MISS_POINTS: '100' } });
    caller = await stack.as({ subject: '2' });
  });
  afterAll(() => stack.stop());

  const remaining = (response: { headers: Headers }) => Number(response.headers.get('ratelimit-remaining'));

  // Each row is sent after the previous one; the charge of a row shows in the remaining budget of the next answer.
  it('charges one point for a refused request, the estimate for an admitted one, and PLAN_MISS_POINTS for a plan', async () => {
    const send = (query: string) => postGraphQL(stack.url, query, { headers: caller });
    const rows: [string, string, number, number][] = [
      // [what, query, status, points the request itself was charged when it was answered]
      ['a first request', '{ me { id } }', 200, 1],
      ['a parse failure', '{ topProducts {', 400, 1],
      ['a validation failure', '{ nope }', 400, 1],
      ['a cost refusal (an estimate of 99990)', '{ topProducts(first: 99990) { upc } }', 400, 1],
      ['an access refusal (a mutation for admins)', 'mutation { createProduct(upc: "zz9", name: "No", price: 1) { upc } }', 403, 1],
      ['an admitted new document (cost 5)', '{ topProducts { name } }', 200, 5],
      ['the same document again', '{ topProducts { name } }', 200, 5],
      ['a probe', '{ me { id } }', 200, 1],
    ];
    const seen: [string, number, number][] = [];
    let last: number | undefined;
    for (const [what, query, status, charged] of rows) {
      const response = await send(query);
      expect(response.status, what).toBe(status);
      const now = remaining(response);
      seen.push([what, last === undefined ? charged : last - now, charged]);
      last = now;
    }
    // The plan of a new document is charged after it was built: it shows one request later (on the second
    // `topProducts` request, and on the first `me` for its own plan).
    expect(seen.map(([what, drop]) => [what, drop])).toEqual([
      ['a first request', 1],
      ['a parse failure', 1 + 100],
      ['a validation failure', 1],
      ['a cost refusal (an estimate of 99990)', 1],
      ['an access refusal (a mutation for admins)', 1],
      ['an admitted new document (cost 5)', 5],
      ['the same document again', 5 + 100],
      ['a probe', 1],
    ]);
  });

  it('charges a refused mutation for the lookups its access rules made', async () => {
    const lookups = await startStack({ env: { RATE_LIMIT_POINTS: '10000', RATE_LIMIT_WINDOW_SEC: '600', PLAN_MISS_POINTS: '0' } });
    try {
      const alan = await lookups.as({ subject: '2' });
      const first = remaining(await lookups.query('{ me { id } }', { headers: alan }));
      // Reviews 1, 3 and 5 are not Alan's: each is looked up to decide, and the mutation is refused.
      const refused = await lookups.query('mutation { a: deleteReview(id: "1") b: deleteReview(id: "3") c: deleteReview(id: "5") }', { headers: alan });
      expect(refused.status).toBe(403);
      expect(lookups.subgraphs.reviews.counter.count('Mutation.deleteReview')).toBe(0);
      const next = remaining(await lookups.query('{ me { id } }', { headers: alan }));
      // The refused mutation: its admission point and three lookups; the probe: its own point.
      expect(first - next).toBe(1 + 3 + 1);
    } finally {
      await lookups.stop();
    }
  });

  it('refuses an operation that costs more than is left, without charging it', async () => {
    const tight = await startStack({ env: { RATE_LIMIT_POINTS: '8', RATE_LIMIT_WINDOW_SEC: '600', PLAN_MISS_POINTS: '0' } });
    try {
      const me = await tight.as({ subject: '3' });
      expect(remaining(await tight.query('{ topProducts { name } }', { headers: me }))).toBe(3);
      const before = received(tight);
      const refused = await tight.query('{ topProducts { name } }', { headers: me });
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ errors: [{ message: 'Too many requests: the rate limit for this caller is used up; retry later', extensions: { code: 'RATE_LIMITED' } }] });
      expect(received(tight)).toBe(before);
      // The refused one cost its admission point only: 2 left, enough for two cheap requests, then none.
      expect(remaining(await tight.query('{ me { id } }', { headers: me }))).toBe(1);
      expect(remaining(await tight.query('{ me { id } }', { headers: me }))).toBe(0);
      const spent = await tight.query('{ me { id } }', { headers: me });
      expect(spent.status).toBe(429);
      expect(Number(spent.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      await tight.stop();
    }
  });
});
