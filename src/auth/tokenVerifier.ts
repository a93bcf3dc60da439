import { errors, jwtVerify } from 'jose';
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
  const options = {
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

      let payload;
      try {
        ({ payload } = await jwtVerify(token, keys.getKey, options));
      } catch (error) {
        throw asAuthError(error);
      }
      const principal = principalFromClaims(payload, config);
      if (principal === undefined) throw new AuthError('invalid_token', 'The token names no subject');

      if (config.tokenCacheSize > 0 && payload.exp !== undefined) {
        if (cache.size >= config.tokenCacheSize) cache.delete(cache.keys().next().value as string);
        cache.set(token, { principal, expiresAtMs: payload.exp * 1000, generation: keys.generation() });
      }
      return principal;
    },
  };
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
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || !(error instanceof errors.JOSEError)) {
    // The keys could not be had: the provider is down, slow, or answered nonsense. Not the token's fault.
    return new AuthError('unavailable', 'Credentials cannot be checked right now; try again shortly', { cause: error });
  }
  return new AuthError('invalid_token', 'The token is malformed', { cause: error });
}
