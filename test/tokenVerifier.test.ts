import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError } from '../src/auth/authError.js';
import { openClientKeys, type ClientKeys } from '../src/auth/clientKeys.js';
import type { Principal } from '../src/auth/principal.js';
import { createTokenVerifier, type TokenVerifier } from '../src/auth/tokenVerifier.js';
import { createLogger } from '../src/common/logger.js';
import { loadConfig, type AuthConfig } from '../src/config/index.js';

// createTokenVerifier in process, against a static JWK set read from a file as JWT_PUBLIC_KEYS reads it: no issuer
// server, no gateway. What the HTTP layer makes of an AuthError (401, www-authenticate) is tested in
// authentication.test.ts; here, which AuthError (or which principal) each token gives.

const ISSUER = 'https://issuer.unit/';
const AUDIENCE = 'https://api.unit';
const now = () => Math.floor(Date.now() / 1000);

interface Signer {
  alg: string;
  kid: string;
  key: CryptoKey | Uint8Array;
}
type KeyPair = Signer & { publicKey: CryptoKey };

let directory: string;
let config: AuthConfig;
let fileKeys: ClientKeys;
let verifier: TokenVerifier;
let es256: KeyPair;
let rs256: KeyPair;
/** Published under no kid the set knows: a well-formed ES256 token whose key the gateway was never given. */
let stranger: KeyPair;
/** ES384 is a fine asymmetric algorithm, but not on the default allowlist (RS256, ES256). */
let es384: KeyPair;
const hs256: Signer = { alg: 'HS256', kid: 'ec-1', key: new TextEncoder().encode('the public key, used as an HMAC secret') };

/** A token with sensible claims (issuer, audience, subject, iat now, exp in five minutes); `claims` overrides them. */
async function sign(signer: Signer, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const iat = now();
  const payload: JWTPayload = { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat, exp: iat + 300, ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT', ...header }).sign(signer.key);
}

/** The token with its payload replaced by `claims`, the signature left as it was. */
function withPayload(token: string, claims: JWTPayload): string {
  const [header, , signature] = token.split('.');
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
}

async function signer(alg: 'ES256' | 'RS256' | 'ES384', kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, key: privateKey, publicKey };
}

/** A key set whose `getKey` calls are counted and whose generation a test moves. */
function counted(inner: ClientKeys): ClientKeys & { lookups: number; bump(): void } {
  let generation = 0;
  const keys = {
    lookups: 0,
    getKey: ((...args: Parameters<ClientKeys['getKey']>) => {
      keys.lookups += 1;
      return inner.getKey(...args);
    }) as ClientKeys['getKey'],
    generation: () => generation,
    reloading: () => false,
    close: () => undefined,
    bump: () => {
      generation += 1;
    },
  };
  return keys;
}

beforeAll(async () => {
  es256 = await signer('ES256', 'ec-1');
  rs256 = await signer('RS256', 'rsa-1');
  stranger = await signer('ES256', 'not-published');
  es384 = await signer('ES384', 'ec384-1');
  directory = await mkdtemp(join(tmpdir(), 'token-verifier-'));
  const file = join(directory, 'jwks.json');
  const jwk = async ({ publicKey, kid, alg }: KeyPair) => ({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
  // ES384's public key is in the set too: the allowlist, not a missing key, is what refuses its tokens.
  await writeFile(file, JSON.stringify({ keys: await Promise.all([es256, rs256, es384].map(jwk)) }));
  config = loadConfig({ JWT_PUBLIC_KEYS: file, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_ROLES_CLAIM: 'realm_access.roles' }).auth;
  fileKeys = await openClientKeys(config.keySource, createLogger({ level: 'silent' }));
  verifier = createTokenVerifier(config, fileKeys);
});

afterAll(async () => {
  fileKeys?.close();
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
});

describe('createTokenVerifier with a static JWK set', () => {
  it('is configured as the cases below assume', () => {
    expect(config).toMatchObject({
      keySource: { kind: 'file' },
      issuer: ISSUER,
      audience: [AUDIENCE],
      algorithms: ['RS256', 'ES256'],
      clockToleranceSec: 5,
      rolesClaim: 'realm_access.roles',
      scopesClaims: ['scope', 'scp'],
      maxLifetimeSec: 86_400,
    });
  });

  it.each<[string, () => Promise<string>, Principal]>([
    [
      'an ES256 token, with roles at realm_access.roles and scopes in a space-separated `scope`',
      () => sign(es256, { sub: 'ada', realm_access: { roles: ['admin', 'editor', 'admin'] }, scope: 'read:reviews  write:reviews' }),
      { kind: 'user', subject: 'ada', roles: ['admin', 'editor'], scopes: ['read:reviews', 'write:reviews'] },
    ],
    [
      'an RS256 token, with scopes in an `scp` array',
      () => sign(rs256, { sub: 'grace', realm_access: { roles: ['support'] }, scp: ['read:users', 'read:orders'] }),
      { kind: 'user', subject: 'grace', roles: ['support'], scopes: ['read:users', 'read:orders'] },
    ],
    [
      'a token whose `scope` wins over its `scp` (the first configured claim present)',
      () => sign(es256, { sub: 'linus', scope: 'a', scp: ['b'] }),
      { kind: 'user', subject: 'linus', roles: [], scopes: ['a'] },
    ],
    [
      'a token with roles at the top level only, where the configured path does not look',
      () => sign(rs256, { sub: 'barbara', roles: ['admin'] }),
      { kind: 'user', subject: 'barbara', roles: [], scopes: [] },
    ],
    [
      'a token without iat, valid for five minutes',
      () => sign(es256, { sub: 'ken', iat: undefined }),
      { kind: 'user', subject: 'ken', roles: [], scopes: [] },
    ],
    [
      'a token expired two seconds ago, within the 5 s clock tolerance',
      () => sign(es256, { sub: 'edsger', iat: now() - 60, exp: now() - 2 }),
      { kind: 'user', subject: 'edsger', roles: [], scopes: [] },
    ],
  ])('accepts %s', async (_case, makeToken, principal) => {
    await expect(verifier.verify(await makeToken())).resolves.toEqual(principal);
  });

  const invalid = (message: string) => ({ kind: 'invalid_token' as const, message });
  it.each<[string, () => Promise<string>, { kind: AuthError['kind']; message: string }]>([
    ['an expired token', () => sign(es256, { iat: now() - 600, exp: now() - 60 }), invalid('The token has expired')],
    ['an nbf a minute in the future', () => sign(es256, { nbf: now() + 60 }), invalid('The token is not valid yet')],
    ['another issuer', () => sign(es256, { iss: 'https://evil.example/' }), invalid('The token is from an issuer this API does not accept')],
    ['another audience', () => sign(rs256, { aud: 'https://other-api.example' }), invalid('The token is not meant for this API (audience)')],
    ['ES384, which the allowlist leaves out', () => sign(es384), invalid('The token is signed with an algorithm this API does not accept')],
    ['HS256 with a secret, under a published kid', () => sign(hs256), invalid('The token is signed with an algorithm this API does not accept')],
    ['alg none', async () => `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'x', exp: now() + 60 })).toString('base64url')}.`, invalid('The token is signed with an algorithm this API does not accept')],
    ['a tampered payload (another subject, the signature of the original)', async () => withPayload(await sign(es256, { sub: 'mallory', exp: 2_000_000_000 }), { iss: ISSUER, aud: AUDIENCE, sub: 'admin', iat: now(), exp: now() + 300 }), invalid('The token signature is invalid')],
    ['the right kid but another key\'s signature', () => sign({ ...stranger, kid: 'ec-1' }), invalid('The token signature is invalid')],
    ['a kid the key set does not hold', () => sign(stranger), invalid('The token is signed with an unknown key')],
    ['no sub', () => sign(es256, { sub: undefined }), invalid('The token names no subject')],
    ['an empty sub', () => sign(es256, { sub: '' }), invalid('The token names no subject')],
    ['no exp', () => sign(es256, { exp: undefined }), invalid('The token\'s exp claim is invalid')],
    ['a lifetime one second over maxLifetimeSec', () => sign(es256, { iat: now(), exp: now() + 86_401 }), invalid('The token is valid for longer than this API accepts')],
    ['no iat and exp two days ahead', () => sign(es256, { iat: undefined, exp: now() + 2 * 86_400 }), invalid('The token is valid for longer than this API accepts')],
    ['an iat two days ago (older than maxLifetimeSec)', () => sign(es256, { iat: now() - 2 * 86_400, exp: now() + 60 }), invalid('The token is valid for longer than this API accepts')],
    ['an iat an hour in the future', () => sign(rs256, { iat: now() + 3600, exp: now() + 3900 }), invalid('The token was issued in the future')],
    ['an iat that is not a number', () => sign(es256, { iat: 'yesterday' as unknown as number }), invalid('The token\'s iat claim is invalid')],
    [
      'a critical header extension the gateway does not know',
      () => new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'x', iat: now(), exp: now() + 60 }).setProtectedHeader({ alg: 'ES256', kid: 'ec-1', crit: ['urn:x-bind'], 'urn:x-bind': true }).sign(es256.key, { crit: { 'urn:x-bind': true } }),
      invalid('The token uses a feature this API does not accept'),
    ],
    ['something that is not a JWT', async () => 'not-a-jwt', invalid('The token is malformed')],
    ['three segments of nonsense', async () => 'a.b.c', invalid('The token is malformed')],
  ])('refuses %s', async (_case, makeToken, expected) => {
    const verifying = verifier.verify(await makeToken());
    await expect(verifying).rejects.toBeInstanceOf(AuthError);
    await expect(verifying).rejects.toMatchObject(expected);
  });

  it('answers `unavailable`, not `invalid_token`, when the keys cannot be had', async () => {
    const down: ClientKeys = {
      getKey: async () => {
        throw new Error('connect ECONNREFUSED 10.0.0.7:443');
      },
      generation: () => 0,
      reloading: () => false,
      close: () => undefined,
    };
    const verifying = createTokenVerifier(config, down).verify(await sign(es256));
    await expect(verifying).rejects.toBeInstanceOf(AuthError);
    await expect(verifying).rejects.toMatchObject({ kind: 'unavailable', message: 'Credentials cannot be checked right now; try again shortly' });
  });
});

describe('the verified-token cache', () => {
  it('answers a second call from the cache, and verifies again once the key set\'s generation changes', async () => {
    const keys = counted(fileKeys);
    const cached = createTokenVerifier(config, keys);
    const token = await sign(es256, { sub: 'ada' });

    const first = await cached.verify(token);
    expect(first).toMatchObject({ kind: 'user', subject: 'ada' });
    expect(keys.lookups).toBe(1);
    expect(await cached.verify(token)).toBe(first);
    expect(keys.lookups).toBe(1);

    keys.bump();
    const afterChange = await cached.verify(token);
    expect(afterChange).toEqual(first);
    expect(afterChange).not.toBe(first);
    expect(keys.lookups).toBe(2);
    // Remembered again, under the new generation.
    expect(await cached.verify(token)).toBe(afterChange);
    expect(keys.lookups).toBe(2);
  });

  it('keeps tokens apart: another token is verified, not served another caller\'s principal', async () => {
    const keys = counted(fileKeys);
    const cached = createTokenVerifier(config, keys);
    await expect(cached.verify(await sign(es256, { sub: 'ada' }))).resolves.toMatchObject({ subject: 'ada' });
    await expect(cached.verify(await sign(rs256, { sub: 'grace' }))).resolves.toMatchObject({ subject: 'grace' });
    expect(keys.lookups).toBe(2);
  });

  it('does not remember a refused token', async () => {
    const keys = counted(fileKeys);
    const cached = createTokenVerifier(config, keys);
    const token = await sign(es256, { iss: 'https://evil.example/' });
    await expect(cached.verify(token)).rejects.toMatchObject({ kind: 'invalid_token' });
    await expect(cached.verify(token)).rejects.toMatchObject({ kind: 'invalid_token' });
    expect(keys.lookups).toBe(2);
  });

  it('does not remember a token verified while the key set was reloading', async () => {
    const keys = counted(fileKeys);
    const reloading = { ...keys, reloading: () => true };
    const cached = createTokenVerifier(config, reloading);
    const token = await sign(es256);
    await cached.verify(token);
    await cached.verify(token);
    expect(keys.lookups).toBe(2);
  });

  it('remembers nothing with tokenCacheSize 0', async () => {
    const keys = counted(fileKeys);
    const uncached = createTokenVerifier({ ...config, tokenCacheSize: 0 }, keys);
    const token = await sign(es256);
    await uncached.verify(token);
    await uncached.verify(token);
    expect(keys.lookups).toBe(2);
  });

  it('forgets the least recently used token when full', async () => {
    const keys = counted(fileKeys);
    const small = createTokenVerifier({ ...config, tokenCacheSize: 2 }, keys);
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((sub) => sign(es256, { sub })));
    await small.verify(a as string);
    await small.verify(b as string);
    await small.verify(a as string); // a is now the most recently used: b goes first
    expect(keys.lookups).toBe(2);
    await small.verify(c as string);
    expect(keys.lookups).toBe(3);
    await small.verify(a as string);
    expect(keys.lookups).toBe(3);
    await small.verify(b as string);
    expect(keys.lookups).toBe(4);
  });
});
