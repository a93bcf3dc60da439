import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { createLocalJWKSet, decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clientTokenOf } from '../src/auth/authenticate.js';
import { startStack, type Stack, type SubgraphName } from './harness.js';
import { createSigningKey, TEST_AUDIENCE, TEST_ISSUER, TestIssuer, type SigningKey } from './testIssuer.js';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * A proxy in front of a subgraph that records the headers of every request it passes on, refused ones included (the
 * subgraph's own counter sees only those that reach GraphQL), and can hold answers back so that requests overlap.
 */
async function recordingProxy(target: string): Promise<{ url: string; sent: IncomingHttpHeaders[]; holdMs: number; close(): void }> {
  const proxy = {
    url: '',
    sent: [] as IncomingHttpHeaders[],
    holdMs: 0,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
  const server: Server = createServer((incoming, outgoing) => {
    proxy.sent.push(incoming.headers);
    const holdMs = proxy.holdMs;
    const forward = httpRequest(target, { method: incoming.method, headers: incoming.headers }, (answer) => {
      setTimeout(() => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      }, holdMs);
    });
    // The subgraph behind it may be stopped: the gateway then sees a connection that fails, as it would without us.
    forward.on('error', () => outgoing.destroy());
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  return proxy;
}

/** The claims of the token the gateway minted for a subgraph's last request that reached GraphQL. */
function mintedClaims(stack: Stack, subgraph: SubgraphName) {
  const authorization = stack.subgraphs[subgraph].counter.lastHeaders['authorization'] ?? '';
  expect(authorization).toMatch(/^Bearer ey/);
  return decodeJwt(authorization.replace(/^Bearer /, ''));
}

describe('a subgraph that verifies the identity provider\'s tokens itself (SUBGRAPH_REVIEWS_AUTH=forward)', () => {
  let key: SigningKey;
  let issuer: TestIssuer;
  let stack: Stack;
  let reviews: Awaited<ReturnType<typeof recordingProxy>>;
  /** Every client token this suite sends: none may appear in a log line. */
  const signed: string[] = [];
  const sign = async (subject: string) => {
    const token = await issuer.sign({ subject });
    signed.push(token);
    return token;
  };

  beforeAll(async () => {
    key = await createSigningKey('ES256', 'idp-1');
    issuer = await TestIssuer.start([key]);
    stack = await startStack({
      env: { SUBGRAPH_REVIEWS_AUTH: 'forward', ...issuer.env() },
      // Reviews trusts the identity provider, as a team's subgraph that already verifies its tokens would.
      trust: { reviews: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, keys: createLocalJWKSet({ keys: [key.publicJwk] }) } },
      through: {
        reviews: async (url) => {
          reviews = await recordingProxy(url);
          return reviews;
        },
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await issuer?.stop();
  });
  beforeEach(() => {
    reviews.sent.length = 0;
    reviews.holdMs = 0;
  });

  it('sends reviews exactly the client\'s token, and every other subgraph a token minted for it', async () => {
    const token = await sign('1');
    const response = await stack.query('{ me { id reviews(first: 1) { rating } } topProducts(first: 1) { name } }', { headers: bearer(token) });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { me: { id: '1', reviews: [{ rating: 5 }] }, topProducts: [{ name: 'Table' }] } });

    expect(reviews.sent.map((headers) => headers.authorization)).toEqual([`Bearer ${token}`]);
    expect(stack.subgraphs.reviews.counter.lastHeaders['authorization']).toBe(`Bearer ${token}`);
    for (const subgraph of ['accounts', 'products'] as const) expect(stack.subgraphs[subgraph].counter.lastHeaders['authorization']).not.toContain(token);
    expect(mintedClaims(stack, 'accounts')).toMatchObject({ iss: 'graphql-gateway', aud: 'accounts', sub: '1' });
    // The catalogue is hinted PUBLIC: products gets the anonymous caller's token, whoever asked.
    expect(mintedClaims(stack, 'products')).toMatchObject({ iss: 'graphql-gateway', aud: 'products' });
    expect(mintedClaims(stack, 'products')).not.toHaveProperty('sub');
  });

  it('lets reviews know the caller from the client\'s token: a review it creates is theirs', async () => {
    const response = await stack.query('mutation { createReview(upc: "2", body: "Sturdy.", rating: 4) { rating author { id } } }', { headers: bearer(await sign('3')) });
    expect(response.body).toEqual({ data: { createReview: { rating: 4, author: { id: '3' } } } });
  });

  it('sends an authorization look-up to reviews with the caller\'s token too', async () => {
    // Review 1 is by user 1: user 2's deletion is decided by looking its author up in reviews, as user 2, and refused.
    const token = await sign('2');
    const counter = stack.subgraphs.reviews.counter;
    const lookups = counter.count('Query._entities');
    const deletions = counter.count('Mutation.deleteReview');
    const response = await stack.query('mutation { deleteReview(id: "1") }', { headers: bearer(token) });
    expect(response.body.errors?.map((error) => error.extensions?.['code'])).toEqual(['FORBIDDEN']);
    expect(counter.count('Query._entities')).toBe(lookups + 1);
    expect(counter.count('Mutation.deleteReview')).toBe(deletions);
    expect(reviews.sent.map((headers) => headers.authorization)).toEqual([`Bearer ${token}`]);
  });

  it('sends an anonymous caller\'s request to reviews without any Authorization, and masks the subgraph\'s refusal', async () => {
    const rejected = stack.subgraphs.reviews.counter.rejected;
    const response = await stack.query('{ topProducts(first: 1) { name reviews(first: 1) { rating } } }');

    expect(reviews.sent).toHaveLength(1);
    expect(reviews.sent[0]).not.toHaveProperty('authorization');
    // Reviews refuses what carries no token it trusts (401): its field is null, the rest of the answer stands, and the
    // refusal reaches the client masked, as any unexpected subgraph answer does (logged in full under the request id).
    expect(stack.subgraphs.reviews.counter.rejected).toBe(rejected + 1);
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ topProducts: [{ name: 'Table', reviews: null }] });
    expect(response.body.errors).toEqual([{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);
    const body = JSON.stringify(response.body);
    for (const internal of ['Only the gateway', '401', 'Unauthorized', '127.0.0.1', 'reviews subgraph']) expect(body).not.toContain(internal);
    // Products is a `mint` subgraph: it gets a token minted for an anonymous caller, with no subject.
    const claims = mintedClaims(stack, 'products');
    expect(claims).toMatchObject({ iss: 'graphql-gateway', aud: 'products', roles: [], scopes: [] });
    expect(claims).not.toHaveProperty('sub');
  });

  it('shares one reviews request between identical queries of one caller in flight at once', async () => {
    reviews.holdMs = 500;
    const token = await sign('4');
    const answers = await Promise.all([1, 2].map(() => stack.query('{ user(id: "4") { reviews(first: 1) { rating } } }', { headers: bearer(token) })));
    for (const answer of answers) expect(answer.body.errors).toBeUndefined();
    expect(reviews.sent.map((headers) => headers.authorization)).toEqual([`Bearer ${token}`]);
  });

  it('never shares a reviews request between two callers\' identical queries in flight at once', async () => {
    reviews.holdMs = 500;
    const tokens = [await sign('4'), await sign('5')];
    const answers = await Promise.all(tokens.map((token) => stack.query('{ user(id: "4") { reviews(first: 1) { rating } } }', { headers: bearer(token) })));
    for (const answer of answers) expect(answer.body.errors).toBeUndefined();
    expect(answers[0]?.body).toEqual(answers[1]?.body);
    expect(reviews.sent.map((headers) => headers.authorization).sort()).toEqual(tokens.map((token) => `Bearer ${token}`).sort());
  });

  it('writes no client token to any log line', async () => {
    // A failing forward subgraph makes the gateway log the failure with everything it knows of the request.
    await stack.stopSubgraph('reviews');
    const response = await stack.query('{ me { reviews(first: 1) { rating } } }', { headers: bearer(await sign('6')) });
    expect(response.body.errors).toEqual([{ message: 'A service needed for this field is unavailable', extensions: { code: 'SERVICE_UNAVAILABLE' } }]);
    const requestId = response.headers.get('x-request-id');
    expect(stack.logs.some((line) => line['level'] === 40 && line['requestId'] === requestId)).toBe(true);
    expect(signed.length).toBeGreaterThan(5);
    const logs = JSON.stringify(stack.logs);
    for (const token of signed) expect(logs).not.toContain(token);
  });
});

describe('the default: every subgraph gets a token minted for it', () => {
  let stack: Stack;
  beforeAll(async () => {
    // A misspelt override names no subgraph: reviews stays `mint`, and the gateway says so when the supergraph loads.
    stack = await startStack({ env: { SUBGRAPH_REVEIWS_AUTH: 'forward' } });
  });
  afterAll(() => stack?.stop());

  it('mints reviews a token of its own, addressed to it: for the caller, or for no one when the fetch is public', async () => {
    const headers = await stack.as({ subject: '2' });
    const response = await stack.query('mutation { createReview(upc: "1", body: "Solid.", rating: 5) { id } }', { headers });
    expect(response.body.errors).toBeUndefined();
    expect(stack.subgraphs.reviews.counter.lastHeaders['authorization']).not.toBe(headers.authorization);
    expect(mintedClaims(stack, 'reviews')).toMatchObject({ iss: 'graphql-gateway', aud: 'reviews', sub: '2' });

    // Reviews are hinted PUBLIC: the fetch goes as the anonymous caller, whoever asked.
    expect((await stack.query('{ user(id: "2") { reviews(first: 1) { rating } } }', { headers })).body.errors).toBeUndefined();
    const claims = mintedClaims(stack, 'reviews');
    expect(claims).toMatchObject({ iss: 'graphql-gateway', aud: 'reviews', roles: [] });
    expect(claims).not.toHaveProperty('sub');
  });

  it('warns at supergraph load of an auth override that names no subgraph', () => {
    const warnings = stack.logs.filter((line) => line['level'] === 40 && String(line['msg']).includes('subgraph auth override names no subgraph'));
    expect(warnings).toEqual([expect.objectContaining({ variable: 'SUBGRAPH_REVEIWS_AUTH', setting: 'subgraphAuth.reveiws' })]);
  });
});

describe('the client token kept for forwarding', () => {
  const raw = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';
  const user = { kind: 'user', subject: '1', roles: [], scopes: [] } as const;

  it('gives out exactly the bearer token it was verified from, and nothing in any printed form', () => {
    const token = clientTokenOf(['Authorization', `bearer  ${raw}`], user);
    expect(token?.authorization()).toBe(`Bearer ${raw}`);
    expect(JSON.stringify({ token })).toBe('{"token":"[redacted]"}');
    expect(String(token)).toBe('[redacted]');
    expect(inspect({ token })).not.toContain(raw);
  });

  it('is never kept for an anonymous caller, whatever the headers hold', () => {
    expect(clientTokenOf(['authorization', `Bearer ${raw}`], { kind: 'anonymous' })).toBeUndefined();
  });
});
