// The demo graph's gateway configuration: the file a team owns when it runs its own graph with this gateway. The
// engine in src/ knows nothing of what is here. The environment overrides any setting at start (MAX_COST=8000, say),
// which is where secrets, URLs and ports belong; see the README's Configuration section for every setting.
import { GraphQLError } from 'graphql';
import { allow, or, rule, type IRules } from 'graphql-shield';
import { defineConfig, hasRole, ownedBy, type AuthzContext, type ShieldRule } from './src/index.js';

const isAdmin = hasRole('admin');
const isSelf = ownedBy('id');

/**
 * The review named by the `id` argument was written by the caller. The mutation's parent holds nothing to go on, so
 * the rule looks the review's author up (as the caller) before the mutation may run.
 */
const isAuthorOfReviewArgument = rule('isAuthorOfReviewArgument', { cache: 'strict' })(async (_parent, args: { id?: unknown }, ctx: AuthzContext) => {
  if (ctx.principal.kind !== 'user' || typeof args.id !== 'string') return false;
  const review = await ctx.fetchEntity({ typename: 'Review', key: { id: args.id }, selection: 'author { id }' });
  if (review === null) return new GraphQLError('No review with this id', { extensions: { code: 'NOT_FOUND' } });
  const author = review['author'] as { id?: unknown } | null | undefined;
  return author?.id === ctx.principal.subject;
});

/**
 * The access policy, as a graphql-shield rule tree. Every field is listed: a field that is not (say, one a new
 * subgraph adds) is denied, shows up in `npm run check:permissions`, and stays denied until someone decides. Subgraph
 * teams may also declare access in their SDL with @authenticated, @requiresScopes and @policy; those rules are added
 * to the ones here (both must allow).
 *
 * Anonymous callers may read products, stock, reviews and a user's public profile. Signed-in callers may see `me`,
 * list `users` and review (declared with @authenticated in the SDL). A user's email and birthday are for that user
 * and admins; deleting a review, for its author and admins. Cost prices and the catalog mutations are for admins
 * (declared with @policy(policies: [["admin"]]) in the products SDL).
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
export const policies: Record<string, ShieldRule> = { admin: isAdmin, public: allow };

export default defineConfig({
  policy: { ruleTree, policies },
  limits: {
    // One review per operation: a script cannot post a hundred under aliases.
    fieldCaps: { 'Mutation.createReview': 1 },
  },
});
