import { GraphQLError } from 'graphql';
import { allow, deny, or } from 'graphql-shield';
import type { IRules } from 'graphql-shield';
import { ErrorCode } from '../errors.js';
import type { ShieldRule } from '../authz/ruleEvaluation.js';
import { isAdmin, isAuthorOfReviewArgument, isSelf } from './rules.js';

/**
 * The gateway's access policy, as a graphql-shield rule tree. Every field is listed: a field that is not (say, one a
 * new subgraph adds) falls back to `deny`, shows up in `npm run check:permissions`, and stays denied until someone
 * decides. Subgraph teams may also declare access in their SDL with @authenticated, @requiresScopes and @policy; those
 * rules are added to the ones here (both must allow).
 *
 * Here: anonymous callers may read products, stock, reviews and a user's public profile. Signed-in callers may see
 * `me`, list `users` and review (declared with @authenticated in the SDL). A user's email and birthday are for
 * that user and admins; deleting a review, for its author and admins. Cost prices and the catalog mutations are
 * for admins (declared with @policy(policies: [["admin"]]) in the products SDL).
 */
export const ruleTree: IRules = {
  Query: {
    me: allow, // @authenticated
    users: allow, // @authenticated
    user: allow,
    topProducts: allow,
    product: allow,
  },
  Mutation: {
    createProduct: allow, // @policy admin
    updatePrice: allow, // @policy admin
    createReview: allow, // @authenticated
    deleteReview: or(isAdmin, isAuthorOfReviewArgument),
  },
  User: {
    id: allow,
    username: allow,
    name: allow,
    reviews: allow,
    email: or(isAdmin, isSelf),
    birthday: or(isAdmin, isSelf),
  },
  Product: {
    upc: allow,
    name: allow,
    price: allow,
    weight: allow,
    costPrice: allow, // @policy admin
    inStock: allow,
    shippingEstimate: allow,
    reviews: allow,
  },
  Review: {
    id: allow,
    body: allow,
    rating: allow,
    product: allow,
    author: allow,
  },
};

/**
 * Named rules that `@policy(policies: [["name"]])` in a subgraph's SDL refers to. `public` lets a subgraph team
 * declare a field open to everyone in its own SDL, a decision as explicit as any other.
 */
export const policies: Readonly<Record<string, ShieldRule>> = {
  admin: isAdmin,
  public: allow,
};

/** graphql-shield options: deny whatever the tree does not name, and never pass a raw error to a client. */
export const shieldOptions = {
  fallbackRule: deny,
  allowExternalErrors: false,
  fallbackError: new GraphQLError('Not authorised', { extensions: { code: ErrorCode.Forbidden } }),
};
