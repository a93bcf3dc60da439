import { GraphQLError } from 'graphql';
import { allow, and, chain, deny, not, or, race, rule, type IRules } from 'graphql-shield';
import type { PolicyInput } from '../../src/config/index.js';
import { hasRole, hasScopes, isAuthenticated, ownedBy, type AuthzContext } from '../../src/index.js';
import type { ShieldRule } from './shieldLayers.js';

// A hand-written policy, given as the same rule tree to the gateway and to graphql-shield on the monolith, that uses
// every kind of rule and option a policy may: a type-wide rule, `*` entries, a field the tree leaves to the
// fallbackRule, and/or/not/chain/race, not() with an error, rules that return a plain Error, a GraphQLError with a
// code or a string, rules that throw, the three cache modes, an ownership rule with a fragment and a rule that reads
// its parent without one. The scopes it names are what the scoped caller holds (the demo SDL has no @requiresScopes).

export const SCOPES = { readUsers: 'users:read', writeReviews: 'reviews:write' } as const;

const isAdmin = hasRole('admin');
const isSelf = ownedBy('id');

/** The messages of the plain Errors (and strings) these rules return: shield sends them with no code. */
export const PLAIN_ERROR_MESSAGES: ReadonlySet<string> = new Set(['Prices are for signed-in callers', 'A upc is made of digits']);

/** Returns a plain Error. */
const pricesForMembers = rule('pricesForMembers', { cache: 'contextual' })((_parent, _args, ctx: AuthzContext) => ctx.principal.kind === 'user' || new Error('Prices are for signed-in callers'));

/** Returns a string, which shield turns into a plain Error. `strict`: cached by parent and arguments. */
const upcIsDigits = rule('upcIsDigits', { cache: 'strict' })((_parent, args: { upc?: unknown }) => (typeof args.upc === 'string' && /^\d+$/.test(args.upc)) || 'A upc is made of digits');

/** Returns a GraphQLError with a code of its own. */
const shippingForMembers = rule('shippingForMembers', { cache: 'contextual' })(
  (_parent, _args, ctx: AuthzContext) => ctx.principal.kind === 'user' || new GraphQLError('Sign in to see shipping costs', { extensions: { code: 'SIGN_IN_REQUIRED' } }),
);

/** Throws for an anonymous caller (a denial, in shield and at the gateway), allows anyone else. */
const namesForMembers = rule('namesForMembers', { cache: 'contextual' })((_parent, _args, ctx: AuthzContext) => {
  if (ctx.principal.kind !== 'user') throw new Error('no subject to check the name against');
  return true;
});

/** A rule with a bug: it always throws. `no_cache`: run for every field. */
export const alwaysThrows: ShieldRule = rule('alwaysThrows', { cache: 'no_cache' })(() => {
  throw new Error('this rule has a bug');
});

/** Reads its parent without declaring a `fragment`: good reviews only. */
export const wellRated: ShieldRule = rule('wellRated', { cache: 'no_cache' })((parent: { rating?: unknown }) => typeof parent.rating === 'number' && parent.rating >= 3);

/** not() with an error of its own, reported instead of the fallback error when the negated rule allows. */
const notAdmin = not(isAdmin, new GraphQLError('Admins read birthdays in the HR tool', { extensions: { code: 'USE_HR_TOOL' } }));

const handWrittenTree: IRules = {
  Query: { '*': allow, me: isAuthenticated, users: or(isAdmin, hasScopes([SCOPES.readUsers])), product: upcIsDigits },
  // A type-wide rule: every mutation, for signed-in admins or review writers.
  Mutation: chain(isAuthenticated, race(isAdmin, hasScopes([SCOPES.writeReviews]))),
  User: { '*': allow, name: namesForMembers, email: or(isAdmin, isSelf), birthday: and(isSelf, notAdmin) },
  Product: { '*': allow, price: pricesForMembers, weight: not(alwaysThrows), inStock: or(alwaysThrows, allow), shippingEstimate: shippingForMembers, costPrice: isAdmin },
  // No `*`: Review.author is left to the fallbackRule.
  Review: { id: allow, body: wellRated, rating: allow, product: allow },
};

/** Rules in the trees above that read their parent without a fragment. */
export const READS_PARENT_WITHOUT_FRAGMENT: ReadonlySet<ShieldRule> = new Set([wellRated]);
/** Rules in the trees above that throw whatever they are given. */
export const THROWS_ALWAYS: ReadonlySet<ShieldRule> = new Set([alwaysThrows]);

/** The hand-written tree, denying what it does not name, with the gateway's default options. */
export const HAND_WRITTEN_DENY: PolicyInput = { ruleTree: handWrittenTree, policies: { admin: isAdmin }, options: { fallbackRule: deny } };

/** The same tree allowing what it does not name, with a fallback error of its own. */
export const HAND_WRITTEN_ALLOW: PolicyInput = {
  ruleTree: handWrittenTree,
  policies: { admin: isAdmin },
  options: { fallbackRule: allow, fallbackError: new GraphQLError('Access denied', { extensions: { code: 'ACCESS_DENIED' } }) },
};
