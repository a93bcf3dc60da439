/**
 * Why a request's credentials were refused, in general terms a client may see (never the token's content).
 * `invalid_request` and `invalid_token` are RFC 6750's error codes; `unavailable` means the keys to check the token
 * could not be had (the identity provider is down), which is no fault of the token.
 */
export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    readonly kind: 'missing' | 'invalid_request' | 'invalid_token' | 'unavailable',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
