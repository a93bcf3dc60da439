/**
 * The headers on every answer of the storefront server. The page runs only its own script and styles (no inline code,
 * no `eval`), talks only to its own origin (`/config.json`, `/dev/sign-in`) and the gateway, and may not be framed.
 * Trusted Types are required and no policy may be created, so a DOM sink that parses HTML (`innerHTML`) cannot be
 * fed a string at all in browsers that enforce them: the page sets text with `textContent` only.
 *
 * No `Strict-Transport-Security`: this server speaks plain HTTP, where browsers ignore it; whatever terminates TLS in
 * front of it sets that header.
 */
export function securityHeaders(gatewayOrigin: string): Record<string, string> {
  const contentSecurityPolicy = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src 'self' ${gatewayOrigin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
  return {
    'content-security-policy': contentSecurityPolicy,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  };
}
