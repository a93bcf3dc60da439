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

/**
 * The bearer token a caller was verified by, kept for the subgraphs configured to `forward` it (they verify the
 * identity provider's tokens themselves). Opaque on purpose: it serialises as `[redacted]` and prints as such, so a
 * log line, an error or a dump of the context that holds it never writes a live credential.
 */
export interface ClientToken {
  /** `Bearer <token>`: the caller's token byte for byte as the gateway verified it (the scheme spelled canonically). */
  authorization(): string;
}

// Not exported as a value: only `clientTokenOf` makes one, so nothing else can hand a subgraph a token of its choosing.
class VerifiedClientToken implements ClientToken {
  readonly #authorization: string;
  constructor(token: string) {
    this.#authorization = `Bearer ${token}`;
  }
  authorization(): string {
    return this.#authorization;
  }
  toJSON(): string {
    return '[redacted]';
  }
  toString(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'ClientToken [redacted]';
  }
}

/**
 * The token behind a principal that `authenticate` has just established from these same headers: a signed-in
 * caller's bearer token, or undefined for an anonymous one, who never carries one on, whatever the headers hold.
 * `Authenticate` returns the principal alone (every HTTP test stands one in), so the token is taken here, after it.
 */
export function clientTokenOf(rawHeaders: readonly string[], principal: Principal): ClientToken | undefined {
  if (principal.kind === 'anonymous') return undefined;
  const token = bearerTokenOf(rawHeaders);
  return token === undefined ? undefined : new VerifiedClientToken(token);
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
