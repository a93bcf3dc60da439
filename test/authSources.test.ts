import { createPublicKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPKCS8, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateway } from './cli.js';
import { principalFromClaims } from '../src/auth/claims.js';
import { startStack } from './harness.js';
import { createSigningKey, TEST_AUDIENCE, TEST_ISSUER, TestIssuer } from './testIssuer.js';

const ME = '{ me { id } }';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auth-sources-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const pem = (jwk: JWK) => createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();

describe('JWT_PUBLIC_KEYS, a file of public keys', () => {
  it.each(['pem', 'jwks'] as const)('verifies tokens with keys from a %s file', async (format) => {
    // Two RSA keys (as during a rotation) and an EC key; in PEM none has a kid, so two keys fit an RS256 token.
    const previous = await createSigningKey('RS256', 'rsa-previous');
    const rsa = await createSigningKey('RS256', 'rsa-file');
    const ec = await createSigningKey('ES256', 'ec-file');
    const file = join(dir, `keys.${format}`);
    await writeFile(file, format === 'pem' ? [previous, rsa, ec].map((key) => pem(key.publicJwk)).join('\n') : JSON.stringify({ keys: [previous.publicJwk, rsa.publicJwk, ec.publicJwk] }));
    // The issuer object is used only to sign here: no JWKS URL is configured.
    const issuer = await TestIssuer.start([rsa, ec]);
    const stack = await startStack({ env: { JWT_PUBLIC_KEYS: file, JWT_ISSUER: TEST_ISSUER, JWT_AUDIENCE: TEST_AUDIENCE } });
    try {
      for (const [key, subject] of [[previous, '3'], [rsa, '1'], [ec, '2']] as const) {
        // PEM carries no kid: the token's kid then matches no key id, and jose picks the key by algorithm.
        const response = await stack.query(ME, { headers: { authorization: `Bearer ${await issuer.sign({ key, subject })}` } });
        expect(response.body).toEqual({ data: { me: { id: subject } } });
      }
      const other = await createSigningKey('RS256', 'rsa-file');
      expect((await stack.query(ME, { headers: { authorization: `Bearer ${await issuer.sign({ key: other })}` } })).status).toBe(401);
      expect(issuer.fetches).toBe(0);
    } finally {
      await stack.stop();
      await issuer.stop();
    }
  });

  it('refuses to start with a private key in the file', async () => {
    const key = await createSigningKey('ES256', 'oops');
    const file = join(dir, 'private.pem');
    await writeFile(file, await exportPKCS8(key.privateKey));
    await expect(startStack({ env: { JWT_PUBLIC_KEYS: file, JWT_ISSUER: TEST_ISSUER, JWT_AUDIENCE: TEST_AUDIENCE } })).rejects.toThrow(/private key: give the gateway public keys only/);
  });
});

describe('development tokens', () => {
  it('npm run token prints a token the development gateway accepts, with the subject and roles asked for', async () => {
    const keyFile = join(dir, 'dev-key.json');
    const { code, stdout } = await gateway(['token', '--sub', '4', '--roles', 'admin,editor'], { env: { DEV_KEY_FILE: keyFile } });
    expect(code).toBe(0);
    const token = stdout.trim();
    expect(token).toMatch(/^ey[\w-]+\.ey[\w-]+\.[\w-]+$/);
    const stack = await startStack({ env: { DEV_KEY_FILE: keyFile } });
    try {
      const response = await stack.query(ME, { headers: { authorization: `Bearer ${token}` } });
      expect(response.body).toEqual({ data: { me: { id: '4' } } });
      const served = (await (await fetch(`${stack.url}/.well-known/dev-issuer-jwks.json`)).json()) as { keys: JWK[] };
      expect(served.keys).toHaveLength(1);
      expect(served.keys[0]).not.toHaveProperty('d');
    } finally {
      await stack.stop();
    }
  });

  it('npm run token refuses when a real key source is configured', async () => {
    await expect(gateway(['token'], { env: { JWT_JWKS_URL: 'https://auth.example.com/jwks.json', JWT_ISSUER: 'x', JWT_AUDIENCE: 'y' } })).resolves.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('development tokens only'),
    });
  });

  it('a production gateway serves no development issuer keys', async () => {
    const key = await createSigningKey('ES256', 'k');
    const file = join(dir, 'production-keys.json');
    await writeFile(file, JSON.stringify({ keys: [key.publicJwk] }));
    const stack = await startStack({ env: { NODE_ENV: 'production', JWT_PUBLIC_KEYS: file, JWT_ISSUER: TEST_ISSUER, JWT_AUDIENCE: TEST_AUDIENCE } });
    try {
      expect((await fetch(`${stack.url}/.well-known/dev-issuer-jwks.json`)).status).toBe(404);
      expect((await fetch(`${stack.url}/.well-known/jwks.json`)).status).toBe(200);
    } finally {
      await stack.stop();
    }
  });
});

describe('claims to principal', () => {
  const paths = { rolesClaim: 'roles', scopesClaims: ['scope', 'scp'] };
  it.each([
    ['roles array and space-separated scope', { sub: 'u', roles: ['admin', 'admin', 'x'], scope: 'a b  c' }, paths, { roles: ['admin', 'x'], scopes: ['a', 'b', 'c'] }],
    ['scp array (Azure AD)', { sub: 'u', scp: ['read', 'write'] }, paths, { roles: [], scopes: ['read', 'write'] }],
    ['nested roles (Keycloak)', { sub: 'u', realm_access: { roles: ['admin'] } }, { ...paths, rolesClaim: 'realm_access.roles' }, { roles: ['admin'], scopes: [] }],
    ['claims of the wrong type', { sub: 'u', roles: 42, scope: { a: 1 } }, paths, { roles: [], scopes: [] }],
    ['a path through inherited properties', { sub: 'u' }, { ...paths, rolesClaim: 'constructor.name' }, { roles: [], scopes: [] }],
  ])('reads %s', (_case, claims, claimPaths, expected) => {
    expect(principalFromClaims(claims, claimPaths)).toEqual({ kind: 'user', subject: 'u', ...expected });
  });

  it('has no principal without a subject', () => {
    expect(principalFromClaims({ roles: ['admin'] }, paths)).toBeUndefined();
  });
});
