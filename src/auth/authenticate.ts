import { AuthError } from './authError.js';
import { bearerTokenOf } from './bearerToken.js';
import { ANONYMOUS, type Principal } from './principal.js';
import type { TokenVerifier } from './tokenVerifier.js';

export type Authenticate = (rawHeaders: readonly string[]) => Promise<Principal>;

/**
 * Establishes the caller: a verified bearer token, or anonymous when there is none (unless authentication is
 * required). A token that fails verification never falls back to anonymous.
 */
export function createAuthenticate(verifier: TokenVerifier, options: { required: boolean }): Authenticate {
  return async (rawHeaders) => {
    const token = bearerTokenOf(rawHeaders);
    if (token === undefined) {
      if (options.required) throw new AuthError('missing', 'Authentication is required');
      return ANONYMOUS;
    }
    return verifier.verify(token);
  };
}

/** How an `AuthError` is answered over HTTP: status and `WWW-Authenticate` per RFC 6750 §3. */
export function authErrorResponse(error: AuthError): { status: number; wwwAuthenticate: string | undefined } {
  switch (error.kind) {
    case 'missing':
      // No credentials at all: a challenge without an error code (RFC 6750 §3.1).
      return { status: 401, wwwAuthenticate: 'Bearer' };
    case 'invalid_request':
      return { status: 400, wwwAuthenticate: `Bearer error="invalid_request", error_description="${error.message}"` };
    case 'invalid_token':
      return { status: 401, wwwAuthenticate: `Bearer error="invalid_token", error_description="${error.message}"` };
    case 'unavailable':
      return { status: 503, wwwAuthenticate: undefined };
    default: {
      const unreachable: never = error.kind;
      throw new Error(`unknown auth error kind ${String(unreachable)}`);
    }
  }
}
