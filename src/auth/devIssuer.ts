import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { DEV_AUDIENCE, DEV_ISSUER } from '../config/index.js';

const ALGORITHM = 'ES256';

export interface DevKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

/**
 * The development issuer's key pair, kept in a file so that the gateway and `npm run token` share it. Created on first
 * use, readable by its owner only. Only a gateway in development mode without a key source reads it.
 */
export async function loadOrCreateDevKey(path: string): Promise<DevKey> {
  try {
    const stored = JSON.parse(await readFile(path, 'utf8')) as { privateJwk: JWK };
    return { privateJwk: stored.privateJwk, publicJwk: publicPart(stored.privateJwk) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid: `dev-${randomUUID()}`, alg: ALGORITHM, use: 'sig' };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify({ privateJwk }, null, 2)}\n`, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
    // Another process created it first: use theirs.
    if (error.code !== 'EEXIST') throw error;
  });
  return loadOrCreateDevKey(path);
}

function publicPart(privateJwk: JWK): JWK {
  const { d: _d, ...publicJwk } = privateJwk;
  return publicJwk;
}

export interface DevTokenClaims {
  subject: string;
  roles: readonly string[];
  scopes: readonly string[];
  ttlSec: number;
  issuer?: string;
  audience?: string;
}

/** A token the development gateway accepts, for pasting into Sandbox's headers. */
export async function signDevToken(key: DevKey, claims: DevTokenClaims): Promise<string> {
  const privateKey = await importJWK(key.privateJwk, ALGORITHM);
  return new SignJWT({ roles: [...claims.roles], scope: claims.scopes.join(' ') })
    .setProtectedHeader({ alg: ALGORITHM, kid: key.privateJwk.kid ?? 'dev', typ: 'JWT' })
    .setSubject(claims.subject)
    .setIssuer(claims.issuer ?? DEV_ISSUER)
    .setAudience(claims.audience ?? DEV_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSec}s`)
    .sign(privateKey);
}
