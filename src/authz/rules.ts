import { rule } from 'graphql-shield';
import type { AuthzContext } from './authzContext.js';
import type { ShieldRule } from './ruleEvaluation.js';

// Building blocks for access policies, as graphql-shield rules. A rule that reads its parent object declares the
// fields it reads in a `fragment` (graphql-shield's own option): the gateway fetches them even when the client did
// not ask, and decides the rule after execution, on the real object.

/** Any verified caller. */
export const isAuthenticated: ShieldRule = rule('isAuthenticated', { cache: 'contextual' })((_parent, _args, ctx: AuthzContext) => ctx.principal.kind === 'user');

/** A caller with the given role in their token (read from the configured roles claim). */
export const hasRole = (role: string): ShieldRule =>
  rule(`hasRole:${role}`, { cache: 'contextual' })((_parent, _args, ctx: AuthzContext) => ctx.principal.kind === 'user' && ctx.principal.roles.includes(role));

/** A caller with every one of the given scopes. */
export const hasScopes = (scopes: readonly string[]): ShieldRule =>
  rule(`hasScopes:${scopes.join(' ')}`, { cache: 'contextual' })(
    (_parent, _args, ctx: AuthzContext) => ctx.principal.kind === 'user' && scopes.every((scope) => ctx.principal.kind === 'user' && ctx.principal.scopes.includes(scope)),
  );

/**
 * The object belongs to the caller: its `field` (e.g. `id` on User, `ownerId` on Order) is the caller's subject.
 * Decided after execution, on the object itself.
 */
export const ownedBy = (field: string): ShieldRule =>
  rule(`ownedBy:${field}`, { cache: 'strict', fragment: `fragment OwnedBy on Object { ${field} }` })(
    (parent: Record<string, unknown>, _args, ctx: AuthzContext) => ctx.principal.kind === 'user' && parent[field] === ctx.principal.subject,
  );
