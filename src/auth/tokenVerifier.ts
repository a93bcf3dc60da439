import { decodeJwt, errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { AuthConfig } from '../config/index.js';
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
 * Verifies client JWTs with jose: signature against the configured keys, issuer, audience, `exp`, `nbf` and `iat`
 * (with a small clock tolerance), the algorithm allowlist, and a lifetime of at most `maxLifetimeSec`. A verified
 * token is remembered until it expires, and never longer than `maxLifetimeSec`, in a bounded cache that forgets
 * everything when the key set changes, so that the hot path is a map lookup.
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
  // jose checks `iat` against the clock only with `maxTokenAge`, which also makes `iat` required: a token issued
  // later than now (beyond the tolerance) or longer ago than the longest lifetime is then refused. Tokens without
  // `iat` are valid, so they are verified without it and their lifetime is checked in `checkLifetime`.
  const withIssuedAt: JWTVerifyOptions = { ...options, maxTokenAge: config.maxLifetimeSec };

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
        // Unverified, only to choose the options: the signature then covers exactly the claims read here.
        const carriesIssuedAt = decodeJwt(token).iat !== undefined;
        ({ payload } = await verifyWithAnyMatchingKey(token, keys, carriesIssuedAt ? withIssuedAt : options));
      } catch (error) {
        throw asAuthError(error);
      }
      const exp = checkLifetime(payload, config, now / 1000);
      const principal = principalFromClaims(payload, config);
      if (principal === undefined) throw new AuthError('invalid_token', 'The token names no subject');

      if (config.tokenCacheSize > 0 && settled && !keys.reloading() && keys.generation() === generation) {
        if (cache.size >= config.tokenCacheSize) cache.delete(cache.keys().next().value as string);
        // Bounded by the longest lifetime too, so that no entry outlives what any token may claim.
        cache.set(token, { principal, expiresAtMs: Math.min(exp * 1000, now + config.maxLifetimeSec * 1000), generation });
      }
      return principal;
    },
  };
}

/**
 * Refuses a token valid for longer than `maxLifetimeSec`: `exp - iat`, or `exp - now` without `iat` (plus the clock
 * tolerance then, as `now` is our clock and `exp` the issuer's). A token valid for a century would otherwise be
 * accepted, and cached, for as long as it claims. Returns `exp`, finite and within bounds. jose has checked that `exp`
 * is present and a number, but JSON can carry `1e309`, which is Infinity: the negated comparison refuses it, and NaN.
 */
function checkLifetime(payload: JWTPayload, config: AuthConfig, nowSec: number): number {
  const exp = payload.exp as number;
  const lifetime = payload.iat === undefined ? exp - nowSec : exp - payload.iat;
  const allowed = payload.iat === undefined ? config.maxLifetimeSec + config.clockToleranceSec : config.maxLifetimeSec;
  if (!Number.isFinite(exp) || !(lifetime <= allowed)) throw new AuthError('invalid_token', TOO_LONG_LIVED);
  return exp;
}

const TOO_LONG_LIVED = 'The token is valid for longer than this API accepts';

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
  if (error instanceof errors.JWTExpired) {
    // jose reports an `iat` older than `maxTokenAge` as expired; the token's lifetime is what is wrong.
    return new AuthError('invalid_token', error.claim === 'iat' ? TOO_LONG_LIVED : 'The token has expired', { cause: error });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'nbf':
        // `check_failed`: later than now beyond the tolerance; anything else: not a number.
        if (error.reason === 'check_failed') return new AuthError('invalid_token', 'The token is not valid yet', { cause: error });
        return new AuthError('invalid_token', 'The token\'s nbf claim is invalid', { cause: error });
      case 'iat':
        // `check_failed` is jose's reason for an `iat` later than now beyond the tolerance; `invalid` a non-number.
        if (error.reason === 'check_failed') return new AuthError('invalid_token', 'The token was issued in the future', { cause: error });
        return new AuthError('invalid_token', 'The token\'s iat claim is invalid', { cause: error });
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
