import type { JWTPayload } from 'jose';
import type { Principal } from './principal.js';

export interface ClaimPaths {
  /** Dot path of the roles claim, e.g. `roles` or `realm_access.roles`. */
  rolesClaim: string;
  /** Dot paths tried in order for scopes, e.g. `scope`, `scp`. */
  scopesClaims: readonly string[];
}

/**
 * Turns a verified token's claims into a principal. Identity providers put roles and scopes in different places
 * (Keycloak: `realm_access.roles`; Auth0 and Okta: `scope` as a space-separated string; Azure AD: `scp` and `roles`),
 * so where to look is configured. Returns undefined when the token names no subject.
 */
export function principalFromClaims(payload: JWTPayload, paths: ClaimPaths): Principal | undefined {
  if (typeof payload.sub !== 'string' || payload.sub === '') return undefined;
  const roles = strings(claimAt(payload, paths.rolesClaim));
  let scopes: string[] = [];
  for (const path of paths.scopesClaims) {
    const value = claimAt(payload, path);
    if (value !== undefined) {
      scopes = strings(value);
      break;
    }
  }
  return Object.freeze({ kind: 'user', subject: payload.sub, roles: Object.freeze(roles), scopes: Object.freeze(scopes) });
}

/** The value at a dot path of the claims, or undefined. */
function claimAt(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** A claim as a list of distinct strings: an array of strings, or one space-separated string. */
function strings(value: unknown): string[] {
  const items = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
  return [...new Set(items.filter((item): item is string => typeof item === 'string' && item !== ''))];
}
