import { jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { SubgraphContext } from './subgraphServer.js';

/** How a subgraph recognises its gateway: the gateway's public keys (its JWKS) and the issuer its tokens carry. */
export interface GatewayTrust {
  keys: JWTVerifyGetKey;
  issuer: string;
  /**
   * The audience a token must name. Absent: the subgraph's own name, as the gateway mints them. A subgraph the gateway
   * sends the client's token to (`SUBGRAPH_<NAME>_AUTH=forward`) trusts the identity provider instead, and its
   * tokens name the API's audience.
   */
  audience?: string;
}

export class GatewayTokenError extends Error {
  override name = 'GatewayTokenError';
}

const MAX_CACHED = 1_000;

/**
 * Checks the token the gateway sent with a request: signed by the gateway, addressed to this subgraph, not expired.
 * Anything else, including no token at all, is refused: only the gateway may call a subgraph. The same token serves
 * many requests for a few seconds, so verified tokens are remembered until they expire.
 */
export function gatewayTokenCheck(trust: GatewayTrust, subgraph: string): (authorization: string | undefined) => Promise<SubgraphContext> {
  const cache = new Map<string, { context: SubgraphContext; expiresAtMs: number }>();
  return async (authorization) => {
    const token = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(authorization ?? '')?.[1];
    if (token === undefined) throw new GatewayTokenError('a gateway token is required');
    const cached = cache.get(token);
    if (cached !== undefined && cached.expiresAtMs > Date.now()) return cached.context;

    let payload;
    try {
      ({ payload } = await jwtVerify(token, trust.keys, { issuer: trust.issuer, audience: trust.audience ?? subgraph, algorithms: ['ES256'], requiredClaims: ['exp'] }));
    } catch (error) {
      throw new GatewayTokenError(`the gateway token is not valid (${(error as { code?: string }).code ?? 'unknown'})`, { cause: error });
    }
    const context: SubgraphContext = {
      userId: typeof payload.sub === 'string' ? payload.sub : null,
      roles: stringList(payload['roles']),
      scopes: stringList(payload['scopes']),
    };
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(token, { context, expiresAtMs: (payload.exp ?? 0) * 1000 });
    return context;
  };
}

function stringList(value: unknown): readonly string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
