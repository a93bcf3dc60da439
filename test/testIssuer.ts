import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

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

/**
 * A stand-in identity provider on port 0: serves a JWKS whose keys a test can rotate, counts how often it is fetched,
 * can go down and come back, and signs tokens.
 */
export class TestIssuer {
  keys: SigningKey[];
  fetches = 0;
  down = false;
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
      issuer.fetches += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: issuer.keys.map((key) => key.publicJwk) }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = new TestIssuer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, keys);
    return issuer;
  }

  /** The gateway's environment for this issuer. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return { JWT_JWKS_URL: this.jwksUrl, JWT_ISSUER: TEST_ISSUER, JWT_AUDIENCE: TEST_AUDIENCE, JWT_ALGORITHMS: 'RS256,ES256', ...extra };
  }

  /** A valid token by default; every part can be overridden to make an invalid one. */
  async sign(options: { key?: SigningKey; subject?: string; claims?: JWTPayload; issuer?: string; audience?: string; expiresIn?: string | number; notBefore?: string | number; kid?: string } = {}): Promise<string> {
    const key = options.key ?? this.keys[0];
    if (key === undefined) throw new Error('no key to sign with');
    let jwt = new SignJWT(options.claims ?? {})
      .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: 'JWT' })
      .setSubject(options.subject ?? '1')
      .setIssuer(options.issuer ?? TEST_ISSUER)
      .setAudience(options.audience ?? TEST_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '5m');
    if (options.notBefore !== undefined) jwt = jwt.setNotBefore(options.notBefore);
    return jwt.sign(key.privateKey);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
