import { AuthError } from './authError.js';

/** Longer tokens are refused before any parsing: real ones are a few kilobytes at most. */
export const MAX_TOKEN_LENGTH = 8_192;

/** RFC 6750 §2.1: `Bearer` then one token68 (base64url characters, as JWTs are, plus a few). */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The bearer token of a request, from its raw headers, or undefined when it sends none.
 * Raw headers, because Node keeps only the first of two `Authorization` headers: a request that sends two is
 * ambiguous (RFC 6750 §3.1, more than one method) and refused.
 */
export function bearerTokenOf(rawHeaders: readonly string[]): string | undefined {
  let value: string | undefined;
  for (let at = 0; at < rawHeaders.length; at += 2) {
    if (rawHeaders[at]?.toLowerCase() !== 'authorization') continue;
    if (value !== undefined) throw new AuthError('invalid_request', 'Send one Authorization header, not several');
    value = rawHeaders[at + 1] ?? '';
  }
  if (value === undefined) return undefined;
  if (value.length > MAX_TOKEN_LENGTH + 7) throw new AuthError('invalid_request', 'The Authorization header is too long');
  const match = BEARER.exec(value);
  if (!match?.[1]) throw new AuthError('invalid_request', 'The Authorization header must be Bearer followed by a token');
  return match[1];
}
