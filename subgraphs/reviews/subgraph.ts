import { createSubgraph, type Subgraph } from '../shared/subgraphServer.js';
import { loadSubgraphTypeDefs } from '../shared/schemaFile.js';
import { userInputError } from '../shared/userInputError.js';
import { REVIEWABLE_UPCS, REVIEWS, USERNAMES, type ReviewRecord } from './data.js';

const MAX_BODY_LENGTH = 5_000;
/** Lists of reviews are paginated, so that what a query asks for, and what the gateway's cost estimate counts, is bounded. */
const MAX_PAGE = 100;

function page(reviews: ReviewRecord[], first: number): ReviewRecord[] {
  if (first < 0) throw userInputError('first must not be negative', 'first');
  return reviews.slice(0, Math.min(first, MAX_PAGE));
}

/** The reviews subgraph: reviews, and the reviews of each product and each user. */
export function createReviewsSubgraph(): Subgraph {
  const reviews = new Map<string, ReviewRecord>(REVIEWS.map((review) => [review.id, { ...review }]));
  let lastId = REVIEWS.length;

  return createSubgraph({
    name: 'reviews',
    typeDefs: loadSubgraphTypeDefs('reviews'),
    resolvers: {
      Review: {
        __resolveReference: (reference: { id: string }) => reviews.get(reference.id) ?? null,
        product: (review: ReviewRecord) => ({ __typename: 'Product', upc: review.upc }),
        author: (review: ReviewRecord) =>
          review.authorId === null ? null : { __typename: 'User', id: review.authorId, username: USERNAMES[review.authorId] ?? null },
      },
      User: {
        reviews: (user: { id: string }, args: { first: number }) => page([...reviews.values()].filter((review) => review.authorId === user.id), args.first),
      },
      Product: {
        reviews: (product: { upc: string }, args: { first: number }) => page([...reviews.values()].filter((review) => review.upc === product.upc), args.first),
      },
      Mutation: {
        createReview: (_parent: unknown, args: { upc: string; body: string; rating: number }, context: { userId: string | null }) => {
          if (!REVIEWABLE_UPCS.has(args.upc)) throw userInputError(`No product with upc "${args.upc}"`, 'upc');
          if (!Number.isInteger(args.rating) || args.rating < 1 || args.rating > 5) {
            throw userInputError('rating must be a whole number from 1 to 5', 'rating');
          }
          const body = args.body.trim();
          if (body === '') throw userInputError('body must not be empty', 'body');
          if (body.length > MAX_BODY_LENGTH) throw userInputError(`body must be at most ${MAX_BODY_LENGTH} characters`, 'body');
          lastId += 1;
          const review: ReviewRecord = { id: String(lastId), upc: args.upc, body, rating: args.rating, authorId: context.userId };
          reviews.set(review.id, review);
          return review;
        },
        deleteReview: (_parent: unknown, args: { id: string }) => reviews.delete(args.id),
      },
    },
  });
}
