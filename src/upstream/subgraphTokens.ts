import { SignJWT } from 'jose';
import type { SubgraphTokenConfig } from '../config/index.js';
import { SUBGRAPH_TOKEN_ALGORITHM, type GatewaySigningKey } from './gatewaySigningKey.js';
import type { Principal } from '../auth/principal.js';

export interface SubgraphTokens {
  /** A short-lived token for one subgraph (its name is the audience), carrying the caller's identity. */
  tokenFor(subgraph: string, principal: Principal): Promise<string>;
}

/** Minted tokens are reused while at least this share of their life remains; signing is the costly part. */
const REUSE_WHILE_REMAINING = 0.5;
const MAX_CACHED = 10_000;

/**
 * Mints the tokens that replace the client's credentials on every subgraph request. Each carries `sub`, `roles` and
 * `scopes` of the caller (none for an anonymous one), is addressed to one subgraph, and lives `ttlSec` seconds, so a
 * token taken from one subgraph's logs opens neither another subgraph nor, for long, the same one.
 */
export function createSubgraphTokens(key: GatewaySigningKey, config: Pick<SubgraphTokenConfig, 'issuer' | 'ttlSec'>): SubgraphTokens {
  const cache = new Map<string, { token: Promise<string>; reuseUntilMs: number }>();
  return {
    tokenFor(subgraph, principal) {
      const now = Date.now();
      // JSON, not joined strings: roles ['a b'] and ['a', 'b'] must not share a token.
      const cacheKey = JSON.stringify(principal.kind === 'anonymous' ? [subgraph] : [subgraph, principal.subject, principal.roles, principal.scopes]);
      const cached = cache.get(cacheKey);
      if (cached !== undefined && cached.reuseUntilMs > now) return cached.token;

      const claims = principal.kind === 'anonymous' ? { roles: [], scopes: [] } : { roles: [...principal.roles], scopes: [...principal.scopes] };
      let jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: SUBGRAPH_TOKEN_ALGORITHM, kid: key.publicJwk.kid, typ: 'JWT' })
        .setIssuer(config.issuer)
        .setAudience(subgraph)
        .setIssuedAt(Math.floor(now / 1000))
        .setExpirationTime(Math.floor(now / 1000) + config.ttlSec);
      if (principal.kind === 'user') jwt = jwt.setSubject(principal.subject);
      const token = jwt.sign(key.privateKey);

      cache.delete(cacheKey);
      if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
      cache.set(cacheKey, { token, reuseUntilMs: now + config.ttlSec * 1000 * REUSE_WHILE_REMAINING });
      token.catch(() => cache.delete(cacheKey));
      return token;
    },
  };
}
