import { createHash, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

/** The algorithm of gateway-to-subgraph tokens: fast to sign and verify, and supported everywhere. */
export const SUBGRAPH_TOKEN_ALGORITHM = 'ES256';

export interface GatewaySigningKey {
  privateKey: CryptoKey;
  /** Published at /.well-known/jwks.json for the subgraphs. */
  publicJwk: JWK & { kid: string; alg: string; use: 'sig' };
}

/**
 * The key the gateway signs subgraph tokens with: from a file (PEM PKCS#8 or a private JWK, EC P-256), which every
 * replica shares, or else generated at start. A generated key suits one replica: each replica would publish its own.
 */
export async function loadOrGenerateSigningKey(file: string | undefined): Promise<GatewaySigningKey> {
  let privateJwk: JWK;
  if (file === undefined) {
    const { privateKey } = await generateKeyPair(SUBGRAPH_TOKEN_ALGORITHM, { extractable: true });
    privateJwk = await exportJWK(privateKey);
  } else {
    const text = await readFile(file, 'utf8');
    privateJwk = text.trimStart().startsWith('{') ? (JSON.parse(text) as JWK) : (createPrivateKey(text).export({ format: 'jwk' }) as JWK);
    if (privateJwk.kty !== 'EC' || privateJwk.crv !== 'P-256' || privateJwk.d === undefined) {
      throw new Error(`${file} must hold an EC P-256 private key (e.g. openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)`);
    }
  }
  const { d: _d, ...publicPart } = privateJwk;
  // The kid is the key's thumbprint-like hash, so replicas sharing a key file publish the same kid.
  const kid = createHash('sha256').update(`${publicPart.x ?? ''}.${publicPart.y ?? ''}`).digest('base64url').slice(0, 16);
  const privateKey = (await importJWK({ ...privateJwk, alg: SUBGRAPH_TOKEN_ALGORITHM }, SUBGRAPH_TOKEN_ALGORITHM)) as CryptoKey;
  return { privateKey, publicJwk: { kty: publicPart.kty, crv: publicPart.crv, x: publicPart.x, y: publicPart.y, kid, alg: SUBGRAPH_TOKEN_ALGORITHM, use: 'sig' } };
}
