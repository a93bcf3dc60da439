import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { expect } from 'vitest';
import type { GraphQLResponse } from './harness.js';

export const TEST_ISSUER = 'https://issuer.test/';
export const TEST_AUDIENCE = 'https://api.test';

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function createSigningKey(alg: SigningKey['alg'], kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** The checks every refused request gets: status, challenge, code, a message that does not echo the token. */
export function expectRefused(response: GraphQLResponse, status: number, error: 'invalid_token' | 'invalid_request', message: string | RegExp): void {
  expect(response.status).toBe(status);
  expect(response.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer error="${error}", error_description="[^"]+"$`));
  expect(response.body.data).toBeUndefined();
  expect(response.body.errors).toHaveLength(1);
  expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED' });
  expect(response.body.errors?.[0]?.message).toMatch(message);
  expect(JSON.stringify(response.body)).not.toMatch(/eyJ/);
}

/**
 * A stand-in identity provider on port 0: serves a JWKS whose keys a test can rotate, counts how often it is asked
 * and how often it answered, can go down and come back, can hold its answers until released (a slow provider,
 * without timing), and signs tokens.
 */
export class TestIssuer {
  keys: SigningKey[];
  /** JWKS requests received. */
  requests = 0;
  /** JWKS requests answered with the key set. */
  fetches = 0;
  down = false;
  /** While true, JWKS requests are received but not answered until `release()`. */
  holding = false;
  private readonly held: ServerResponse[] = [];
  private constructor(
    private readonly server: Server,
    readonly jwksUrl: string,
    keys: SigningKey[],
  ) {
    this.keys = keys;
  }

  static async start(keys: SigningKey[]): Promise<TestIssuer> {
    let issuer: TestIssuer | undefined;
    const server = createServer((request, response) => {
      if (issuer === undefined || request.url !== '/jwks.json') return void response.writeHead(404).end();
      if (issuer.down) return void response.destroy();
      issuer.requests += 1;
      if (issuer.holding) return void issuer.held.push(response);
      issuer.answer(response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = new TestIssuer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, keys);
    return issuer;
  }

  /** JWKS requests received and not answered yet (while `holding`). */
  get pending(): number {
    return this.held.length;
  }

  /** Stops holding, and answers every held request with the key set as it is now. */
  release(): void {
    this.holding = false;
    for (const response of this.held.splice(0)) this.answer(response);
  }

  private answer(response: ServerResponse): void {
    this.fetches += 1;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys.map((key) => key.publicJwk) }));
  }

  /** The gateway's environment for this issuer. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return { JWT_JWKS_URL: this.jwksUrl, JWT_ISSUER: TEST_ISSUER, JWT_AUDIENCE: TEST_AUDIENCE, JWT_ALGORITHMS: 'RS256,ES256', ...extra };
  }

  /**
   * A valid token by default; every part can be overridden to make an invalid one. `expiresIn` and `issuedAt` take
   * jose's forms (a number is seconds since the epoch); `issuedAt: false` leaves `iat` out.
   */
  async sign(options: { key?: SigningKey; subject?: string; claims?: JWTPayload; issuer?: string; audience?: string; expiresIn?: string | number; issuedAt?: number | false; notBefore?: string | number; kid?: string } = {}): Promise<string> {
    const key = options.key ?? this.keys[0];
    if (key === undefined) throw new Error('no key to sign with');
    let jwt = new SignJWT(options.claims ?? {})
      .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: 'JWT' })
      .setSubject(options.subject ?? '1')
      .setIssuer(options.issuer ?? TEST_ISSUER)
      .setAudience(options.audience ?? TEST_AUDIENCE)
      .setExpirationTime(options.expiresIn ?? '5m');
    if (options.issuedAt !== false) jwt = jwt.setIssuedAt(options.issuedAt);
    if (options.notBefore !== undefined) jwt = jwt.setNotBefore(options.notBefore);
    return jwt.sign(key.privateKey);
  }

  /**
   * A token whose claims are this JSON text, verbatim: for values SignJWT refuses to write, such as `1e309`, which
   * JSON reads as Infinity.
   */
  async signRaw(claimsJson: string, key: SigningKey | undefined = this.keys[0]): Promise<string> {
    if (key === undefined) throw new Error('no key to sign with');
    return new CompactSign(new TextEncoder().encode(claimsJson)).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
  }

  async stop(): Promise<void> {
    for (const response of this.held.splice(0)) response.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
