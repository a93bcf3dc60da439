import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitFor, type Stack } from '../harness.js';

// Client blocking (README, "Suspicious clients are shut out") attacked. The gateway sits behind a "proxy" (the test,
// trusted in TRUSTED_PROXIES to say each request's address in X-Forwarded-For), so that every case is a client of its own,
// as a real deployment behind a load balancer sees its clients.

const VALID = '{ topProducts(first: 1) { name } }';
const blockLines = (stack: Stack) => stack.logs.filter((line) => line['msg'] === 'a client is blocked');
const blockedClients = (stack: Stack) => blockLines(stack).map((line) => String(line['client']));
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

/** A request as a browser makes it for an `<img src>`, a link or `fetch(url, { mode: 'no-cors' })`: no preflight, no custom header. */
function simpleGet(stack: Stack, query: string, address: string): Promise<Response> {
  return fetch(`${stack.url}/graphql?query=${encodeURIComponent(query)}`, { headers: { accept: 'image/avif,image/webp,*/*', 'x-forwarded-for': address } });
}

/** A request as a browser makes it for `fetch(url, { method: 'POST', mode: 'no-cors', body: text })` or a text/plain form: no preflight. */
function simpleTextPost(stack: Stack, body: string, address: string): Promise<Response> {
  return fetch(`${stack.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8', 'x-forwarded-for': address }, body });
}

/** The visitor's own app, as it normally calls the gateway (JSON, same origin), anonymous. */
function appRequest(stack: Stack, address: string) {
  return stack.query(VALID, { headers: { 'x-forwarded-for': address } });
}

describe('client blocking attacked', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CLIENT_BLOCKING: 'enforce', TRUSTED_PROXIES: '127.0.0.1', CLIENT_BLOCKING_COOLDOWNS_SEC: '600' } });
  });
  afterAll(() => stack?.stop());

  // FINDING: any web page can get its visitors' address blocked. A cross-origin request a browser sends without a
  // preflight (GET from an <img>, no apollo-require-preflight header) is refused by Apollo's CSRF prevention, but the
  // document gate runs before Apollo and counts its refusal as a `limit` signal (weight 20): five such requests block
  // the visitor's address (an office NAT, a campus, a mobile carrier's CGNAT) for every anonymous user behind it.
  it('does not let a cross-site page block its visitors\' address with simple GETs the browser sends without a preflight', async () => {
    const visitor = '198.51.100.11';
    // 110 root fields of one response key: ~6000 pairs for the overlap rule, a 2.5 KB URL.
    const overlapping = `{ ${'topProducts { name } '.repeat(110)}}`;
    for (let image = 0; image < 6; image += 1) {
      const answer = await simpleGet(stack, overlapping, visitor);
      // A request the browser sent on its own: refused as CSRF, before any gate reads it or it counts.
      expect(answer.status).toBe(400);
      expect(((await answer.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe('BAD_REQUEST');
    }
    await settle();
    const served = await appRequest(stack, visitor);
    expect(blockedClients(stack)).not.toContain(`ip:${visitor}`);
    expect(served.status).toBe(200);
  });

  it('does not let a cross-site page block its visitors\' address by navigating a frame to a refused GET', async () => {
    const visitor = '198.51.100.15';
    const overlapping = `{ ${'topProducts { name } '.repeat(110)}}`;
    for (let frame = 0; frame < 6; frame += 1) {
      // What a browser sends for <iframe src> or a link: it asks for a page, and Apollo answers with its landing page
      // or its own CSRF refusal, never through the gateway's gates.
      const answer = await fetch(`${stack.url}/graphql?query=${encodeURIComponent(overlapping)}`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8', 'x-forwarded-for': visitor } });
      expect([200, 400]).toContain(answer.status);
      expect(await answer.text()).not.toContain('MAX_SELECTION_PAIRS_EXCEEDED');
    }
    await settle();
    expect(blockedClients(stack)).not.toContain(`ip:${visitor}`);
    expect((await appRequest(stack, visitor)).status).toBe(200);
  });

  // FINDING (same root cause): a `text/plain` POST is a simple request too; one over BODY_LIMIT_BYTES is refused 413
  // before Apollo's CSRF check, and counts as a `limit` signal.
  it('does not let a cross-site page block its visitors\' address with text/plain POSTs over the body limit', async () => {
    const visitor = '198.51.100.12';
    const big = 'x'.repeat(1_100_000);
    for (let post = 0; post < 6; post += 1) {
      const answer = await simpleTextPost(stack, big, visitor);
      // GraphQL comes as JSON: a text/plain body is refused unread.
      expect(answer.status).toBe(415);
    }
    await settle();
    const served = await appRequest(stack, visitor);
    expect(blockedClients(stack)).not.toContain(`ip:${visitor}`);
    expect(served.status).toBe(200);
  });

  // What CSRF prevention refuses (a GET without a preflight header, a text/plain body) does not count.
  it('does not count simple requests that Apollo refuses as CSRF before parsing them', async () => {
    const visitor = '198.51.100.13';
    for (let probe = 0; probe < 12; probe += 1) {
      expect((await simpleGet(stack, `{ topProducts { secret${probe} } }`, visitor)).status).toBe(400);
      expect((await simpleTextPost(stack, JSON.stringify({ query: `{ topProducts { other${probe} } }` }), visitor)).status).toBe(415);
    }
    await settle();
    expect((await appRequest(stack, visitor)).status).toBe(200);
    expect(blockedClients(stack)).not.toContain(`ip:${visitor}`);
  });

  // PASSES (refused): behind a trusted proxy, an address the client writes into X-Forwarded-For itself (to the left of
  // what the proxy appended) is not believed: the flood is charged to the real sender, never to the named victim.
  it('charges a flood to the address the proxy saw, not to a victim the client names in X-Forwarded-For', async () => {
    const victim = '198.51.100.14';
    const attacker = '203.0.113.14';
    for (let probe = 0; probe < 10; probe += 1) {
      const answer = await stack.query(`{ topProducts { probe${probe} } }`, { headers: { 'x-forwarded-for': `${victim}, ${attacker}` } });
      expect(answer.status).toBe(400);
    }
    await waitFor(() => blockedClients(stack).includes(`ip:${attacker}`));
    expect(blockedClients(stack)).not.toContain(`ip:${victim}`);
    expect((await appRequest(stack, victim)).status).toBe(200);
  });

  // PASSES (refused): a blocked address cannot get back in by another door: another spelling of its address, another
  // address of its IPv6 /64, a query string, GET instead of POST, a batch, an APQ hash, a forged token.
  it('keeps a blocked client out whichever way it comes back', async () => {
    const ipv4 = '203.0.113.15';
    const ipv6 = '2001:db8:15:15::1';
    for (const address of [ipv4, ipv6]) {
      for (let probe = 0; probe < 10; probe += 1) await stack.query(`{ topProducts { probe${probe} } }`, { headers: { 'x-forwarded-for': address } });
    }
    await waitFor(() => blockedClients(stack).includes(`ip:${ipv4}`) && blockedClients(stack).includes('ip:2001:db8:15:15::/64'));
    const doors: [string, () => Promise<Response>][] = [
      ['IPv4-mapped IPv6', () => fetch(`${stack.url}/graphql`, json(VALID, '::ffff:203.0.113.15'))],
      ['another address of the /64, written long and in capitals', () => fetch(`${stack.url}/graphql`, json(VALID, '2001:DB8:15:15:0:0:0:ABCD'))],
      ['a query string', () => fetch(`${stack.url}/graphql?x=1`, json(VALID, ipv4))],
      ['GET with the preflight header', () => fetch(`${stack.url}/graphql?query=${encodeURIComponent(VALID)}`, { headers: { 'apollo-require-preflight': '1', 'x-forwarded-for': ipv4 } })],
      ['a batch', () => fetch(`${stack.url}/graphql`, { ...json(VALID, ipv4), body: JSON.stringify([{ query: VALID }, { query: VALID }]) })],
      ['an APQ hash alone', () => fetch(`${stack.url}/graphql`, { ...json(VALID, ipv4), body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }) })],
      ['a forged token', () => fetch(`${stack.url}/graphql`, { ...json(VALID, ipv4), headers: { 'content-type': 'application/json', 'x-forwarded-for': ipv4, authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln' } })],
    ];
    for (const [door, send] of doors) {
      const answer = await send();
      expect({ door, status: answer.status }).toEqual({ door, status: 429 });
    }
    // Other paths are not the API at all.
    expect((await fetch(`${stack.url}/graphql/`, json(VALID, ipv4))).status).toBe(404);
  });
});

function json(query: string, address: string): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': address }, body: JSON.stringify({ query }) };
}
