import { GraphQLError } from 'graphql';
import { rule } from 'graphql-shield';
import type { AuthzContext } from '../authz/authzContext.js';

// The building blocks of the policy. A rule that reads its parent object declares the fields it reads in a
// `fragment` (graphql-shield's own option): the gateway fetches them even when the client did not ask, and decides
// the rule after execution, on the real object.

/** Any verified caller. */
export const isAuthenticated = rule('isAuthenticated', { cache: 'contextual' })(
  (_parent, _args, ctx: AuthzContext) => ctx.principal.kind === 'user',
);

/** A caller with the given role in their token. */
export const hasRole = (role: string) =>
  rule(`hasRole:${role}`, { cache: 'contextual' })((_parent, _args, ctx: AuthzContext) => ctx.principal.kind === 'user' && ctx.principal.roles.includes(role));

export const isAdmin = hasRole('admin');

/** A caller with every one of the given scopes. */
export const hasScopes = (scopes: readonly string[]) =>
  rule(`hasScopes:${scopes.join(' ')}`, { cache: 'contextual' })(
    (_parent, _args, ctx: AuthzContext) => ctx.principal.kind === 'user' && scopes.every((scope) => ctx.principal.kind === 'user' && ctx.principal.scopes.includes(scope)),
  );

/** The user object is the caller themself. */
export const isSelf = rule('isSelf', { cache: 'strict', fragment: 'fragment UserId on User { id }' })(
  (parent: { id?: unknown }, _args, ctx: AuthzContext) => ctx.principal.kind === 'user' && parent.id === ctx.principal.subject,
);

/**
 * The review named by the `id` argument was written by the caller. The mutation's parent holds nothing to go on, so
 * the rule looks the review's author up (as the caller) before the mutation may run.
 */
export const isAuthorOfReviewArgument = rule('isAuthorOfReviewArgument', { cache: 'strict' })(async (_parent, args: { id?: unknown }, ctx: AuthzContext) => {
  if (ctx.principal.kind !== 'user' || typeof args.id !== 'string') return false;
  const review = await ctx.fetchEntity({ typename: 'Review', key: { id: args.id }, selection: 'author { id }' });
  if (review === null) return new GraphQLError('No review with this id', { extensions: { code: 'NOT_FOUND' } });
  const author = review['author'] as { id?: unknown } | null | undefined;
  return author?.id === ctx.principal.subject;
});
