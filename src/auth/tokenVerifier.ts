import { errors, jwtVerify, type CryptoKey, type JWTVerifyOptions } from 'jose';
import type { AuthConfig } from '../config.js';
import { AuthError } from './authError.js';
import { principalFromClaims } from './claims.js';
import type { ClientKeys } from './clientKeys.js';
import type { Principal } from './principal.js';

export interface TokenVerifier {
  /** The caller behind a bearer token; throws an `AuthError` that says in general terms what is wrong. */
  verify(token: string): Promise<Principal>;
}

interface CachedPrincipal {
  principal: Principal;
  expiresAtMs: number;
  generation: number;
}

/**
 * Verifies client JWTs with jose: signature against the configured keys, issuer, audience, `exp` and `nbf` (with a
 * small clock tolerance), and the algorithm allowlist. A verified token is remembered until it expires, in a bounded
 * cache that forgets everything when the key set changes, so that the hot path is a map lookup.
 */
export function createTokenVerifier(config: AuthConfig, keys: ClientKeys): TokenVerifier {
  const cache = new Map<string, CachedPrincipal>();
  const options: JWTVerifyOptions = {
    issuer: config.issuer,
    audience: [...config.audience],
    algorithms: [...config.algorithms],
    clockTolerance: config.clockToleranceSec,
    requiredClaims: ['exp'],
  };

  return {
    async verify(token) {
      const now = Date.now();
      const cached = cache.get(token);
      if (cached !== undefined) {
        cache.delete(token);
        if (cached.expiresAtMs > now && cached.generation === keys.generation()) {
          cache.set(token, cached); // most recently used last
          return cached.principal;
        }
      }

      // A verification that overlaps a change of the key set may have used a key that is gone now: its result is
      // used but not remembered (the generation moved, or a reload was under way).
      const generation = keys.generation();
      const settled = !keys.reloading();
      let payload;
      try {
        ({ payload } = await verifyWithAnyMatchingKey(token, keys, options));
      } catch (error) {
        throw asAuthError(error);
      }
      const principal = principalFromClaims(payload, config);
      if (principal === undefined) throw new AuthError('invalid_token', 'The token names no subject');

      if (config.tokenCacheSize > 0 && payload.exp !== undefined && settled && !keys.reloading() && keys.generation() === generation) {
        if (cache.size >= config.tokenCacheSize) cache.delete(cache.keys().next().value as string);
        cache.set(token, { principal, expiresAtMs: payload.exp * 1000, generation });
      }
      return principal;
    },
  };
}

/**
 * jwtVerify, trying each candidate when several keys fit the token's header (keys without a `kid`, as PEM keys are):
 * jose then reports them all and leaves the choice to the caller (its documented pattern).
 */
async function verifyWithAnyMatchingKey(token: string, keys: ClientKeys, options: JWTVerifyOptions) {
  try {
    return await jwtVerify(token, keys.getKey, options);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
      try {
        return await jwtVerify(token, key, options);
      } catch (candidateError) {
        if (!(candidateError instanceof errors.JWSSignatureVerificationFailed)) throw candidateError;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/** Maps jose's failures, by their stable codes, to what a client may be told. */
function asAuthError(error: unknown): AuthError {
  if (error instanceof errors.JWTExpired) return new AuthError('invalid_token', 'The token has expired', { cause: error });
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'nbf':
        return new AuthError('invalid_token', 'The token is not valid yet', { cause: error });
      case 'iss':
        return new AuthError('invalid_token', 'The token is from an issuer this API does not accept', { cause: error });
      case 'aud':
        return new AuthError('invalid_token', 'The token is not meant for this API (audience)', { cause: error });
      default:
        return new AuthError('invalid_token', `The token's ${error.claim} claim is invalid`, { cause: error });
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new AuthError('invalid_token', 'The token is signed with an algorithm this API does not accept', { cause: error });
  if (error instanceof errors.JWSSignatureVerificationFailed) return new AuthError('invalid_token', 'The token signature is invalid', { cause: error });
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new AuthError('invalid_token', 'The token is signed with an unknown key', { cause: error });
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return new AuthError('invalid_token', 'The token is malformed', { cause: error });
  if (error instanceof errors.JOSENotSupported) return new AuthError('invalid_token', 'The token uses a feature this API does not accept', { cause: error });
  // Anything else is about getting the keys: the provider is down, slow, or answered an error page or nonsense
  // (jose reports a non-200 answer as its base JOSEError). Not the token's fault: 503, and the client may retry.
  return new AuthError('unavailable', 'Credentials cannot be checked right now; try again shortly', { cause: error });
}
