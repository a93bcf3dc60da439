import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AuthConfig } from '../src/config/index.js';
import type { ClientKeys } from '../src/auth/clientKeys.js';
import { createTokenVerifier } from '../src/auth/tokenVerifier.js';
import { startStack, type Stack } from './harness.js';
import { createSigningKey, expectRefused, TEST_AUDIENCE, TEST_ISSUER, TestIssuer } from './testIssuer.js';

const ME = '{ me { id username } }';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const now = () => Math.floor(Date.now() / 1000);
/** `iat` and `exp` from one reading of the clock, so that the lifetime is exactly `lifetimeSec`. */
const issued = (offsetSec: number, lifetimeSec: number) => {
  const iat = now() + offsetSec;
  return { issuedAt: iat, expiresIn: iat + lifetimeSec };
};
const DAY = 86_400;
const TOO_LONG = /valid for longer than this API accepts/;

describe('token lifetime and issue time, with the default limit (JWT_MAX_LIFETIME_SEC=86400, 5 s clock tolerance)', () => {
  let issuer: TestIssuer;
  let stack: Stack;
  beforeAll(async () => {
    issuer = await TestIssuer.start([await createSigningKey('ES256', 'ec-1')]);
    stack = await startStack({ env: issuer.env() });
  });
  afterAll(async () => {
    await stack.stop();
    await issuer.stop();
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    ['exp 100 years ahead', () => issuer.sign({ expiresIn: now() + 100 * 365 * DAY }), TOO_LONG],
    ['exp 1e308', () => issuer.sign({ expiresIn: 1e308 }), TOO_LONG],
    ['exp 1e309, which JSON reads as Infinity', () => issuer.signRaw(`{"sub":"1","iss":"${TEST_ISSUER}","aud":"${TEST_AUDIENCE}","iat":${now()},"exp":1e309}`), TOO_LONG],
    ['a lifetime one second over the limit', () => issuer.sign(issued(0, DAY + 1)), TOO_LONG],
    ['no iat and exp two days ahead', () => issuer.sign({ issuedAt: false, expiresIn: now() + 2 * DAY }), TOO_LONG],
    ['iat two days ago and exp still ahead', () => issuer.sign(issued(-2 * DAY, 2 * DAY + 60)), TOO_LONG],
    ['iat an hour in the future', () => issuer.sign(issued(3600, 300)), /issued in the future/],
    ['iat that is not a number', () => issuer.signRaw(`{"sub":"1","iss":"${TEST_ISSUER}","aud":"${TEST_AUDIENCE}","iat":"yesterday","exp":${now() + 300}}`), /iat claim is invalid/],
  ])('refuses a token with %s with 401 invalid_token, and does not remember it', async (_case, makeToken, message) => {
    const token = await makeToken();
    const received = stack.subgraphs.accounts.counter.received;
    const first = await stack.query(ME, { headers: bearer(token) });
    expectRefused(first, 401, 'invalid_token', message);
    // The same token again: refused again, so nothing about it was cached.
    const second = await stack.query(ME, { headers: bearer(token) });
    expectRefused(second, 401, 'invalid_token', message);
    expect(second.headers.get('www-authenticate')).toBe(first.headers.get('www-authenticate'));
    expect(stack.subgraphs.accounts.counter.received).toBe(received);

    const next = await stack.query(ME, { headers: bearer(await issuer.sign({ subject: '2' })) });
    expect(next.body).toEqual({ data: { me: { id: '2', username: '@complete' } } });
  });

  it.each<[string, () => Promise<string>]>([
    ['a lifetime of exactly the limit', () => issuer.sign({ subject: '3', ...issued(0, DAY) })],
    ['iat a few seconds ahead, within the clock tolerance', () => issuer.sign({ subject: '3', ...issued(3, 300) })],
    ['no iat and exp five minutes ahead', () => issuer.sign({ subject: '3', issuedAt: false, expiresIn: now() + 300 })],
  ])('accepts a token with %s', async (_case, makeToken) => {
    const response = await stack.query(ME, { headers: bearer(await makeToken()) });
    expect(response.status).toBe(200);
    expect(response.headers.get('www-authenticate')).toBeNull();
    expect(response.body).toEqual({ data: { me: { id: '3', username: '@grace' } } });
  });
});

describe('JWT_MAX_LIFETIME_SEC', () => {
  it('set to 120 refuses a 10-minute token and accepts a 2-minute one', async () => {
    const issuer = await TestIssuer.start([await createSigningKey('RS256', 'rsa-1')]);
    const stack = await startStack({ env: issuer.env({ JWT_MAX_LIFETIME_SEC: '120' }) });
    try {
      const tenMinutes = await issuer.sign(issued(0, 600));
      expectRefused(await stack.query(ME, { headers: bearer(tenMinutes) }), 401, 'invalid_token', TOO_LONG);
      expect(stack.subgraphs.accounts.counter.received).toBe(0);

      const twoMinutes = await issuer.sign({ subject: '1', ...issued(0, 120) });
      expect((await stack.query(ME, { headers: bearer(twoMinutes) })).body).toEqual({ data: { me: { id: '1', username: '@ada' } } });
    } finally {
      await stack.stop();
      await issuer.stop();
    }
  });
});

describe('the verified-token cache', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps a token no longer than the longest lifetime, even when its exp is later', async () => {
    // Only Date is faked: jose reads the time from it, and the crypto and promises it awaits keep running.
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = 1_900_000_000;
    vi.setSystemTime(start * 1000);
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    let lookups = 0;
    const keys: ClientKeys = {
      getKey: async () => {
        lookups += 1;
        return publicKey;
      },
      generation: () => 0,
      reloading: () => false,
      close: () => undefined,
    };
    const config: AuthConfig = {
      keySource: { kind: 'file', path: 'unused' },
      issuer: TEST_ISSUER,
      audience: [TEST_AUDIENCE],
      algorithms: ['ES256'],
      clockToleranceSec: 5,
      required: false,
      rolesClaim: 'roles',
      scopesClaims: ['scope'],
      tokenCacheSize: 10,
      maxLifetimeSec: 60,
    };
    const verifier = createTokenVerifier(config, keys);
    // Issued 5 s ahead of our clock (within the tolerance) with the longest lifetime: exp is 65 s from now.
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('u').setIssuer(TEST_ISSUER).setAudience(TEST_AUDIENCE)
      .setIssuedAt(start + 5).setExpirationTime(start + 65).sign(privateKey);

    await expect(verifier.verify(token)).resolves.toMatchObject({ kind: 'user', subject: 'u' });
    expect(lookups).toBe(1);
    vi.setSystemTime((start + 30) * 1000);
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'u' });
    expect(lookups).toBe(1); // from the cache

    // 62 s after it was cached: past the longest lifetime, though before exp. Verified again, not served from the cache.
    vi.setSystemTime((start + 62) * 1000);
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'u' });
    expect(lookups).toBe(2);
  });
});
