import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitFor, type GraphQLResponse, type Stack } from './harness.js';
import { createSigningKey, expectRefused, TestIssuer, type SigningKey } from './testIssuer.js';

const ME = '{ me { id username } }';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('client tokens, verified against an identity provider\'s JWKS', () => {
  let issuer: TestIssuer;
  let rsa: SigningKey;
  let ec: SigningKey;
  let stack: Stack;

  beforeAll(async () => {
    rsa = await createSigningKey('RS256', 'rsa-1');
    ec = await createSigningKey('ES256', 'ec-1');
    issuer = await TestIssuer.start([rsa, ec]);
    stack = await startStack({ env: issuer.env() });
  });
  afterAll(async () => {
    await stack.stop();
    await issuer.stop();
  });

  /** After every refusal the gateway must still serve a valid caller. */
  async function expectNextRequestServed(): Promise<void> {
    const next = await stack.query(ME, { headers: bearer(await issuer.sign({ subject: '2' })) });
    expect(next.body).toEqual({ data: { me: { id: '2', username: '@complete' } } });
  }

  it.each([
    ['RS256', '1', '@ada'],
    ['ES256', '3', '@grace'],
  ] as const)('accepts a valid %s token, and its subject reaches the accounts subgraph as `me`', async (alg, subject, username) => {
    const token = await issuer.sign({ key: alg === 'RS256' ? rsa : ec, subject });
    const response = await stack.query(ME, { headers: bearer(token) });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { me: { id: subject, username } } });
  });

  it('treats a request without a token as anonymous: public fields answer, `me` is forbidden', async () => {
    const response = await stack.query('{ me { id } user(id: "1") { username } }');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      data: { me: null, user: { username: '@ada' } },
      errors: [{ message: 'Not authorised', locations: [{ line: 1, column: 3 }], path: ['me'], extensions: { code: 'FORBIDDEN' } }],
    });
  });

  const now = () => Math.floor(Date.now() / 1000);
  it.each<[string, () => Promise<string>, RegExp]>([
    ['an expired token', () => issuer.sign({ expiresIn: now() - 60 }), /expired/],
    ['a token not valid yet', () => issuer.sign({ notBefore: now() + 3600 }), /not valid yet/],
    ['a token from another issuer', () => issuer.sign({ issuer: 'https://evil.test/' }), /issuer/],
    ['a token for another audience', () => issuer.sign({ audience: 'https://other-api.test' }), /audience/],
    ['a token with alg none', async () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: '1', iss: 'https://issuer.test/', aud: 'https://api.test', exp: now() + 300 })}.`, /algorithm|malformed/],
    ['an HS256 token whose secret is the RSA public key', async () => {
      const secret = new TextEncoder().encode(createPublicKey({ key: rsa.publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString());
      return new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setSubject('1').setIssuer('https://issuer.test/').setAudience('https://api.test').setExpirationTime('5m').sign(secret);
    }, /algorithm/],
    ['a token whose payload was changed after signing', async () => {
      const [header, , signature] = (await issuer.sign({ subject: '1' })).split('.');
      return `${header}.${base64url({ sub: '6', iss: 'https://issuer.test/', aud: 'https://api.test', exp: now() + 300 })}.${signature}`;
    }, /signature/],
    ['a token that names no subject', async () => {
      return new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setIssuer('https://issuer.test/').setAudience('https://api.test').setExpirationTime('5m').sign(rsa.privateKey);
    }, /subject/],
    ['a token that is not a JWT', async () => 'not.a.jwt', /malformed/],
  ])('refuses %s with 401 invalid_token, and serves the next request', async (_case, makeToken, message) => {
    const received = stack.subgraphs.accounts.counter.received;
    const response = await stack.query(ME, { headers: bearer(await makeToken()) });
    expectRefused(response, 401, 'invalid_token', message);
    expect(stack.subgraphs.accounts.counter.received).toBe(received);
    await expectNextRequestServed();
  });

  it.each([
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['Bearer without a token', 'Bearer'],
    ['two tokens', 'Bearer abc def'],
    ['an oversized token', `Bearer ${'a'.repeat(9_000)}`],
  ])('refuses an Authorization header with %s with 400 invalid_request', async (_case, header) => {
    const response = await stack.query(ME, { headers: { authorization: header } });
    expectRefused(response, 400, 'invalid_request', /Authorization header/);
    await expectNextRequestServed();
  });

  it('refuses two Authorization headers with 400 invalid_request, though Node keeps only the first', async () => {
    const token = await issuer.sign();
    const response = await new Promise<GraphQLResponse>((resolve, reject) => {
      const request = httpRequest(`${stack.url}/graphql`, { method: 'POST' }, (answer) => {
        let text = '';
        answer.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => {
          const headers = new Headers(Object.entries(answer.headers).map(([name, value]) => [name, String(value)]));
          resolve({ status: answer.statusCode ?? 0, headers, body: JSON.parse(text) as GraphQLResponse['body'] });
        });
      });
      request.on('error', reject);
      request.setHeader('content-type', 'application/json');
      request.setHeader('authorization', [`Bearer ${token}`, `Bearer ${token}`]);
      request.end(JSON.stringify({ query: ME }));
    });
    expectRefused(response, 400, 'invalid_request', /one Authorization header/);
    await expectNextRequestServed();
  });

  it('sends the subgraph a token of its own: never the client\'s, addressed to that subgraph, short-lived, with the caller\'s identity', async () => {
    const clientToken = await issuer.sign({ subject: '5', claims: { roles: ['admin', 'editor'], scope: 'read:reviews write:reviews' } });
    const response = await stack.query(ME, { headers: { ...bearer(clientToken), cookie: 'session=secret', 'x-tenant': 'acme' } });
    expect(response.body).toEqual({ data: { me: { id: '5', username: '@substitute' } } });

    const sent = stack.subgraphs.accounts.counter.lastHeaders;
    expect(sent['authorization']).not.toContain(clientToken);
    expect(sent['cookie']).toBeUndefined();
    expect(sent['x-tenant']).toBeUndefined();
    expect(sent['x-request-id']).toBe(response.headers.get('x-request-id'));
    const gatewayToken = (sent['authorization'] ?? '').replace(/^Bearer /, '');
    expect(decodeProtectedHeader(gatewayToken)).toMatchObject({ alg: 'ES256' });
    const claims = decodeJwt(gatewayToken);
    expect(claims).toMatchObject({ iss: 'graphql-gateway', aud: 'accounts', sub: '5', roles: ['admin', 'editor'], scopes: ['read:reviews', 'write:reviews'] });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBeLessThanOrEqual(10);
  });

  it('publishes its own public key, and only that, at /.well-known/jwks.json', async () => {
    const response = await fetch(`${stack.url}/.well-known/jwks.json`);
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });
});

describe('subgraphs trust only the gateway', () => {
  let stack: Stack;
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start([await createSigningKey('ES256', 'ec-1')]);
    stack = await startStack({ env: issuer.env() });
  });
  afterAll(async () => {
    await stack.stop();
    await issuer.stop();
  });

  const forged = async (key: SigningKey) =>
    new SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'ES256', kid: key.kid }).setSubject('1').setIssuer('graphql-gateway').setAudience('accounts').setExpirationTime('10s').sign(key.privateKey);

  it.each([
    ['no token', async () => undefined],
    ['a client token', async () => issuer.sign()],
    ['a token that looks like the gateway\'s but is signed by another key', async () => forged(await createSigningKey('ES256', 'forger'))],
  ])('answers a direct call with %s with 401, for queries, _service and _entities alike', async (_case, makeToken) => {
    const token = await makeToken();
    const accounts = stack.subgraphs.accounts;
    const received = accounts.counter.received;
    const rejected = accounts.counter.rejected;
    for (const query of ['{ users { email } }', '{ _service { sdl } }', '{ _entities(representations: [{ __typename: "User", id: "1" }]) { ... on User { email } } }']) {
      const response = await fetch(accounts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token === undefined ? {} : bearer(token)) },
        body: JSON.stringify({ query }),
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(await response.json()).toEqual({ errors: [{ message: 'Only the gateway may call this service', extensions: { code: 'UNAUTHENTICATED' } }] });
    }
    expect(accounts.counter.received).toBe(received);
    expect(accounts.counter.rejected).toBe(rejected + 3);
  });

  it('refuses a gateway token addressed to another subgraph', async () => {
    await stack.query('{ topProducts(first: 1) { name } }');
    const productsToken = stack.subgraphs.products.counter.lastHeaders['authorization'] ?? '';
    expect(productsToken).toMatch(/^Bearer ey/);
    const response = await fetch(stack.subgraphs.accounts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: productsToken },
      body: JSON.stringify({ query: '{ users { email } }' }),
    });
    expect(response.status).toBe(401);
  });
});

describe('unknown key ids', () => {
  it('are refused at once and refetch the JWKS in the background; a flood of them fetches at most once per cooldown', async () => {
    const cooldownMs = 1_000;
    const issuer = await TestIssuer.start([await createSigningKey('RS256', 'rsa-1')]);
    const stack = await startStack({ env: issuer.env({ JWT_JWKS_COOLDOWN_MS: String(cooldownMs) }) });
    try {
      expect((await stack.query(ME, { headers: bearer(await issuer.sign()) })).status).toBe(200);
      expect(issuer.fetches).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, cooldownMs + 100));

      const ghost = await createSigningKey('RS256', 'ghost');
      expectRefused(await stack.query(ME, { headers: bearer(await issuer.sign({ key: ghost })) }), 401, 'invalid_token', /unknown key/);
      await waitFor(() => issuer.fetches === 2); // the refetch runs in the background: the 401 may come first

      const started = Date.now();
      for (let index = 0; index < 30; index += 1) {
        const flood = await stack.query(ME, { headers: bearer(await issuer.sign({ key: ghost, kid: `ghost-${index}` })) });
        expect(flood.status).toBe(401);
      }
      expect(issuer.fetches).toBeLessThanOrEqual(2 + Math.floor((Date.now() - started) / cooldownMs));
      expect((await stack.query(ME, { headers: bearer(await issuer.sign({ subject: '3' })) })).body).toEqual({ data: { me: { id: '3', username: '@grace' } } });
    } finally {
      await stack.stop();
      await issuer.stop();
    }
  });
});

describe('key rotation at the identity provider', () => {
  it('accepts tokens of the new key once the refetch they started has completed, and refuses those of the removed key, even ones accepted before', async () => {
    const oldKey = await createSigningKey('RS256', 'old');
    const newKey = await createSigningKey('RS256', 'new');
    const issuer = await TestIssuer.start([oldKey]);
    const stack = await startStack({ env: issuer.env({ JWT_JWKS_COOLDOWN_MS: '1000' }) });
    try {
      const oldToken = await issuer.sign({ key: oldKey, subject: '1' });
      expect((await stack.query(ME, { headers: bearer(oldToken) })).body).toEqual({ data: { me: { id: '1', username: '@ada' } } });

      issuer.keys = [newKey];
      const newToken = await issuer.sign({ key: newKey, subject: '4' });
      // Refused (401, unknown key) until the cooldown since the last fetch has passed and the refetch that a request
      // then starts in the background has completed.
      let accepted: GraphQLResponse | undefined;
      await waitFor(async () => {
        const response = await stack.query(ME, { headers: bearer(newToken) });
        if (response.status === 200) accepted = response;
        else expectRefused(response, 401, 'invalid_token', /unknown key/);
        return accepted !== undefined;
      });
      expect(accepted?.body).toEqual({ data: { me: { id: '4', username: '@ewd' } } });
      expect(issuer.fetches).toBe(2);

      const stale = await stack.query(ME, { headers: bearer(oldToken) });
      expectRefused(stale, 401, 'invalid_token', /unknown key/);
    } finally {
      await stack.stop();
      await issuer.stop();
    }
  });
});

describe('an identity provider that answers slowly once keys are known', () => {
  it('refuses an unknown kid at once while the refetch it started is pending, serves known kids meanwhile, and accepts a newly published key once the refetch completed', async () => {
    const known = await createSigningKey('RS256', 'rsa-1');
    const published = await createSigningKey('RS256', 'rsa-2');
    const issuer = await TestIssuer.start([known]);
    // A timeout longer than the test and no periodic refresh: the only fetches are the first and the one an unknown
    // kid starts, and the held one stays pending until released.
    const stack = await startStack({ env: issuer.env({ JWT_JWKS_COOLDOWN_MS: '1000', JWT_JWKS_TIMEOUT_MS: '60000', JWT_JWKS_REFRESH_MS: '86400000' }) });
    try {
      expect((await stack.query(ME, { headers: bearer(await issuer.sign({ key: known, subject: '1' })) })).body).toEqual({ data: { me: { id: '1', username: '@ada' } } });
      expect([issuer.requests, issuer.fetches]).toEqual([1, 1]);

      // From now on the provider receives requests and answers none; it publishes a new key.
      issuer.holding = true;
      issuer.keys = [known, published];
      const rotated = await issuer.sign({ key: published, subject: '4' });
      const received = stack.subgraphs.accounts.counter.received;

      // Within the cooldown since the first fetch no refetch starts; after it, one request starts the refetch. Every
      // answer meanwhile is a 401: none waits for the held fetch (which would hang until the test's timeout).
      let refusals = 0;
      await waitFor(async () => {
        expectRefused(await stack.query(ME, { headers: bearer(rotated) }), 401, 'invalid_token', /unknown key/);
        refusals += 1;
        return issuer.requests === 2;
      });
      expect(refusals).toBeGreaterThan(1); // some came within the cooldown, and fetched nothing

      // The refetch is pending at the provider, unanswered, when these answers arrive.
      expect(issuer.pending).toBe(1);
      expectRefused(await stack.query(ME, { headers: bearer(rotated) }), 401, 'invalid_token', /unknown key/);
      const ghost = await createSigningKey('RS256', 'ghost');
      for (let index = 0; index < 20; index += 1) {
        expectRefused(await stack.query(ME, { headers: bearer(await issuer.sign({ key: ghost, kid: `ghost-${index}` })) }), 401, 'invalid_token', /unknown key/);
      }
      expect(await stack.query(ME, { headers: bearer(await issuer.sign({ key: known, subject: '3' })) })).toMatchObject({ status: 200, body: { data: { me: { id: '3', username: '@grace' } } } });
      expect([issuer.requests, issuer.pending, issuer.fetches]).toEqual([2, 1, 1]);
      expect(stack.subgraphs.accounts.counter.received).toBe(received + 1); // only the known kid's request

      issuer.release();
      await waitFor(() => issuer.fetches === 2);
      // The gateway installs the set once it has read the answer: poll until it has.
      let accepted: GraphQLResponse | undefined;
      await waitFor(async () => {
        const response = await stack.query(ME, { headers: bearer(rotated) });
        if (response.status === 200) accepted = response;
        else expectRefused(response, 401, 'invalid_token', /unknown key/);
        return accepted !== undefined;
      });
      expect(accepted?.body).toEqual({ data: { me: { id: '4', username: '@ewd' } } });
      expect(issuer.requests).toBe(2);
    } finally {
      await stack.stop();
      await issuer.stop();
    }
  });
});

describe('an identity provider that is down', () => {
  it('answers 503 without a crash while no key is known, keeps serving anonymous callers, and recovers when it returns', async () => {
    const key = await createSigningKey('ES256', 'ec-1');
    const issuer = await TestIssuer.start([key]);
    issuer.down = true;
    const stack = await startStack({ env: issuer.env({ JWT_JWKS_TIMEOUT_MS: '1000' }) });
    try {
      const token = await issuer.sign({ subject: '6' });
      const refused = await stack.query(ME, { headers: bearer(token) });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(refused.body).toEqual({ errors: [{ message: 'Credentials cannot be checked right now; try again shortly', extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
      expect((await stack.query('{ user(id: "1") { username } }')).body).toEqual({ data: { user: { username: '@ada' } } });

      issuer.down = false;
      expect((await stack.query(ME, { headers: bearer(token) })).body).toEqual({ data: { me: { id: '6', username: '@apollo11' } } });

      // Once keys are known, an outage no longer matters to tokens signed with them, and a token signed with a key
      // the provider never published is refused as such (401), not answered 503.
      issuer.down = true;
      const another = await issuer.sign({ subject: '2' });
      expect((await stack.query(ME, { headers: bearer(another) })).body).toEqual({ data: { me: { id: '2', username: '@complete' } } });
      const ghost = await issuer.sign({ key: await createSigningKey('ES256', 'ghost') });
      expectRefused(await stack.query(ME, { headers: bearer(ghost) }), 401, 'invalid_token', /unknown key/);
    } finally {
      await stack.stop();
      await issuer.stop();
    }
  });
});

describe('FORWARD_HEADERS', () => {
  it('passes on exactly the listed client headers', async () => {
    const stack = await startStack({ env: { FORWARD_HEADERS: 'x-tenant, Accept-Language' } });
    try {
      await stack.query('{ user(id: "1") { id } }', { headers: { 'x-tenant': 'acme', 'accept-language': 'de', 'x-other': 'no', cookie: 'a=b' } });
      const sent = stack.subgraphs.accounts.counter.lastHeaders;
      expect(sent['x-tenant']).toBe('acme');
      expect(sent['accept-language']).toBe('de');
      expect(sent['x-other']).toBeUndefined();
      expect(sent['cookie']).toBeUndefined();
    } finally {
      await stack.stop();
    }
  });
});

describe('an identity provider that answers with an error page', () => {
  it('is no fault of the token: 503, not 401', async () => {
    const issuer = await TestIssuer.start([await createSigningKey('ES256', 'ec-1')]);
    const stack = await startStack({ env: issuer.env() });
    const broken = createServer((_request, response) => response.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>'));
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    const brokenStack = await startStack({ env: issuer.env({ JWT_JWKS_URL: `http://127.0.0.1:${(broken.address() as AddressInfo).port}/jwks.json` }) });
    try {
      const response = await brokenStack.query(ME, { headers: bearer(await issuer.sign()) });
      expect(response.status).toBe(503);
      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
    } finally {
      await brokenStack.stop();
      await stack.stop();
      broken.close();
      await issuer.stop();
    }
  });
});

describe('an identity provider that answers without end', () => {
  it('is read up to 1 MiB, then dropped: 503, and the rest is never read', async () => {
    const issuer = await TestIssuer.start([await createSigningKey('ES256', 'ec-1')]);
    // 64 MiB offered, 64 KiB at a time as the reader takes them: what the gateway read is what was sent before it hung up.
    const OFFERED = 64 * 1024 * 1024;
    let sent = 0;
    const endless = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const more = () => {
        while (sent < OFFERED) {
          sent += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', more);
        }
        response.end();
      };
      response.on('close', () => response.removeAllListeners('drain'));
      more();
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    const stack = await startStack({ env: issuer.env({ JWT_JWKS_URL: `http://127.0.0.1:${(endless.address() as AddressInfo).port}/jwks.json` }) });
    try {
      const response = await stack.query(ME, { headers: bearer(await issuer.sign()) });
      expect(response.status).toBe(503);
      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
      // The socket buffers of both ends hold a few MiB at most: far less than what a reader to the end takes.
      expect(sent).toBeLessThan(OFFERED / 2);
    } finally {
      await stack.stop();
      endless.closeAllConnections();
      endless.close();
      await issuer.stop();
    }
  });
});

describe('AUTH_REQUIRED=true', () => {
  it('answers a request without a token with 401 and a bare Bearer challenge', async () => {
    const issuer = await TestIssuer.start([await createSigningKey('ES256', 'ec-1')]);
    const stack = await startStack({ env: issuer.env({ AUTH_REQUIRED: 'true' }) });
    try {
      const response = await stack.query(ME);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
      expect(response.body).toEqual({ errors: [{ message: 'Authentication is required', extensions: { code: 'UNAUTHENTICATED' } }] });
      expect(stack.subgraphs.accounts.counter.received).toBe(0);
      expect((await stack.query(ME, { headers: bearer(await issuer.sign({ subject: '1' })) })).status).toBe(200);
    } finally {
      await stack.stop();
      await issuer.stop();
    }
  });
});
