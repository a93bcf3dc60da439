import { execute, GraphQLError, GraphQLSchema, isObjectType, parse, responsePathAsArray, type DocumentNode, type ExecutionResult, type GraphQLFieldResolver, type GraphQLObjectType, type GraphQLResolveInfo } from 'graphql';
import { applyMiddleware, type IMiddlewareFunction, type IMiddlewareGenerator } from 'graphql-middleware';
import type { Principal } from '../../src/auth/principal.js';
import type { AuthzContext, EntityFetcher } from '../../src/authz/authzContext.js';
import { USERS, type UserRecord } from '../../subgraphs/accounts/data.js';
import { PRODUCTS, type ProductRecord } from '../../subgraphs/products/data.js';
import { REVIEWABLE_UPCS, REVIEWS, USERNAMES, type ReviewRecord } from '../../subgraphs/reviews/data.js';
import { userInputError } from '../../subgraphs/shared/userInputError.js';

// The four demo subgraphs as ONE graphql-js schema: the gateway's API schema with resolvers that read the subgraphs'
// own data (their data.ts) and repeat their logic. graphql-shield runs on it as it would in any server, so what it
// answers is what the federated demo must answer under the same rule tree.
//
// The subgraphs keep their resolvers inside their factories, so the logic is repeated here, constant for constant;
// a drift shows up as a difference in `data` for every caller, never as an authorization difference.

/** subgraphs/inventory/subgraph.ts: out of stock, and the price (cents) above which shipping is free. */
const OUT_OF_STOCK: ReadonlySet<string> = new Set(['3', '7']);
const FREE_SHIPPING_ABOVE = 1000;
/** subgraphs/products/subgraph.ts */
const MAX_TOP_PRODUCTS = 100;
/** subgraphs/reviews/subgraph.ts */
const MAX_BODY_LENGTH = 5_000;
const MAX_PAGE = 100;

/** The demo's data, as the subgraphs hold it (each subgraph copies its records, and mutations change the copies). */
export interface DemoState {
  users: Map<string, UserRecord>;
  products: Map<string, ProductRecord>;
  reviews: Map<string, ReviewRecord>;
  /** The reviews subgraph's id counter. */
  lastReviewId: number;
}

export function initialState(): DemoState {
  return {
    users: new Map(USERS.map((user) => [user.id, { ...user }])),
    products: new Map(PRODUCTS.map((product) => [product.upc, { ...product }])),
    reviews: new Map(REVIEWS.map((review) => [review.id, { ...review }])),
    lastReviewId: REVIEWS.length,
  };
}

export function copyState(state: DemoState): DemoState {
  const copy = <T extends object>(map: Map<string, T>) => new Map([...map].map(([key, value]) => [key, { ...value }]));
  return { users: copy(state.users), products: copy(state.products), reviews: copy(state.reviews), lastReviewId: state.lastReviewId };
}

/** One field graphql-js executed on the monolith, whatever shield decided on it. */
export interface ExecutedField {
  path: readonly (string | number)[];
  /** The key of the parent object's path (see `pathKey`). */
  parentKey: string;
  typeName: string;
  fieldName: string;
  responseKey: string;
  /** Selected with no arguments at all (defaults do not count). */
  withoutArguments: boolean;
  args: Record<string, unknown>;
  /** A copy of the parent object as it was when the field ran. */
  parent: Readonly<Record<string, unknown>> | undefined;
}

/** What happened in one execution, by response path, for the deviation table to read. */
export interface Trace {
  executed: Map<string, ExecutedField>;
  /** Fields whose own resolver ran: shield let them through. */
  resolved: Set<string>;
  /** Errors the resolvers themselves threw: the subgraphs' own errors (bad input). */
  threw: Map<string, GraphQLError>;
}

export type MonolithContext = AuthzContext & { state: DemoState; trace: Trace };

export function pathKey(path: readonly (string | number)[]): string {
  return JSON.stringify(path);
}

function newTrace(): Trace {
  return { executed: new Map(), resolved: new Set(), threw: new Map() };
}

type Resolver = (parent: Record<string, unknown>, args: Record<string, unknown>, context: MonolithContext) => unknown;

const subjectOf = (principal: Principal): string | null => (principal.kind === 'user' ? principal.subject : null);

function page(reviews: ReviewRecord[], first: number): ReviewRecord[] {
  if (first < 0) throw userInputError('first must not be negative', 'first');
  return reviews.slice(0, Math.min(first, MAX_PAGE));
}

/** A user as an entity reference resolves: the accounts record, with the username the reviews subgraph provides. */
function userEntity(state: DemoState, id: string): UserRecord | null {
  const user = state.users.get(id);
  return user === undefined ? null : { ...user, username: USERNAMES[id] ?? user.username };
}

/** The subgraphs' resolvers, merged by type; fields not named read the record's property of the same name. */
const RESOLVERS: Record<string, Record<string, Resolver>> = {
  Query: {
    // accounts: `me` is the token's subject.
    me: (_parent, _args, { state, principal }) => {
      const subject = subjectOf(principal);
      return subject === null ? null : (state.users.get(subject) ?? null);
    },
    user: (_parent, args, { state }) => state.users.get(String(args['id'])) ?? null,
    users: (_parent, _args, { state }) => [...state.users.values()],
    // products
    topProducts: (_parent, args, { state }) => {
      const first = Number(args['first']);
      if (first < 0) throw userInputError('first must not be negative', 'first');
      return [...state.products.values()].slice(0, Math.min(first, MAX_TOP_PRODUCTS));
    },
    product: (_parent, args, { state }) => state.products.get(String(args['upc'])) ?? null,
  },
  Mutation: {
    createProduct: (_parent, args, { state }) => {
      const upc = String(args['upc']).trim();
      const name = String(args['name']);
      const price = Number(args['price']);
      const weight = args['weight'] as number | null | undefined;
      if (upc === '') throw userInputError('upc must not be empty', 'upc');
      if (state.products.has(upc)) throw userInputError(`A product with upc "${upc}" already exists`, 'upc');
      if (name.trim() === '') throw userInputError('name must not be empty', 'name');
      if (price < 0) throw userInputError('price must not be negative', 'price');
      if (weight != null && weight < 0) throw userInputError('weight must not be negative', 'weight');
      const product: ProductRecord = { upc, name: name.trim(), price, weight: weight ?? null, costPrice: 0 };
      state.products.set(upc, product);
      return product;
    },
    updatePrice: (_parent, args, { state }) => {
      const upc = String(args['upc']);
      const price = Number(args['price']);
      const product = state.products.get(upc);
      if (!product) throw userInputError(`No product with upc "${upc}"`, 'upc');
      if (price < 0) throw userInputError('price must not be negative', 'price');
      product.price = price;
      return product;
    },
    createReview: (_parent, args, { state, principal }) => {
      const upc = String(args['upc']);
      const rating = Number(args['rating']);
      if (!REVIEWABLE_UPCS.has(upc)) throw userInputError(`No product with upc "${upc}"`, 'upc');
      if (!Number.isInteger(rating) || rating < 1 || rating > 5) throw userInputError('rating must be a whole number from 1 to 5', 'rating');
      const body = String(args['body']).trim();
      if (body === '') throw userInputError('body must not be empty', 'body');
      if (body.length > MAX_BODY_LENGTH) throw userInputError(`body must be at most ${MAX_BODY_LENGTH} characters`, 'body');
      state.lastReviewId += 1;
      const review: ReviewRecord = { id: String(state.lastReviewId), upc, body, rating, authorId: subjectOf(principal) };
      state.reviews.set(review.id, review);
      return review;
    },
    deleteReview: (_parent, args, { state }) => state.reviews.delete(String(args['id'])),
  },
  Product: {
    // inventory, from the price and weight it @requires
    inStock: (product) => !OUT_OF_STOCK.has(String(product['upc'])),
    shippingEstimate: (product) => {
      const { price, weight } = product as unknown as ProductRecord;
      if (price == null || weight == null) return null;
      return price > FREE_SHIPPING_ABOVE ? 0 : Math.round(weight / 2);
    },
    // reviews
    reviews: (product, args, { state }) => page([...state.reviews.values()].filter((review) => review.upc === product['upc']), Number(args['first'])),
  },
  User: {
    reviews: (user, args, { state }) => page([...state.reviews.values()].filter((review) => review.authorId === user['id']), Number(args['first'])),
  },
  Review: {
    // The reviews subgraph returns references; the gateway completes them from the products and accounts subgraphs.
    product: (review, _args, { state }) => state.products.get(String(review['upc'])) ?? null,
    author: (review, _args, { state }) => (review['authorId'] === null ? null : userEntity(state, String(review['authorId']))),
  },
};

/** How each entity type is found by its key, as each subgraph's `__resolveReference` finds it. */
const REFERENCES: Record<string, (state: DemoState, key: Record<string, unknown>) => object | null> = {
  User: (state, key) => userEntity(state, String(key['id'])),
  Product: (state, key) => state.products.get(String(key['upc'])) ?? null,
  Review: (state, key) => state.reviews.get(String(key['id'])) ?? null,
};

/** Records every field graphql-js executes, outside shield, so the deviation table can tell where shield decided. */
const recordExecution: IMiddlewareFunction<unknown, MonolithContext> = async (resolve, parent, args, context, info) => {
  const path = responsePathAsArray(info.path);
  context.trace.executed.set(pathKey(path), {
    path,
    parentKey: pathKey(path.slice(0, -1)),
    typeName: info.parentType.name,
    fieldName: info.fieldName,
    responseKey: String(info.path.key),
    withoutArguments: info.fieldNodes.every((fieldNode) => (fieldNode.arguments ?? []).length === 0),
    args: { ...(args as Record<string, unknown>) },
    parent: parent === undefined ? undefined : { ...(parent as Record<string, unknown>) },
  });
  return resolve(parent, args, context, info);
};

export interface Monolith {
  state: DemoState;
  /** Executes an operation as `principal`, with graphql-shield deciding (the document must be valid). */
  run(request: { document: DocumentNode; variables: Record<string, unknown> }, principal: Principal): Promise<{ result: ExecutionResult; trace: Trace }>;
  /** A fresh rule context for `principal`, as shield's would be at the start of a request. */
  context(principal: Principal): MonolithContext;
}

/**
 * Builds the monolith: sets the resolvers of `apiSchema` (a copy of its own), then puts `middlewares` (outermost
 * first: shield's layers) between graphql-js and them. Mutations change `state`, which the caller may replace
 * between operations.
 */
export function createMonolith(apiSchema: GraphQLSchema, middlewares: readonly IMiddlewareGenerator<unknown, MonolithContext, unknown>[]): Monolith {
  for (const type of Object.values(apiSchema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const own = RESOLVERS[type.name]?.[field.name];
      const resolver: Resolver = own ?? ((parent) => parent[field.name]);
      field.resolve = traced(resolver) as GraphQLFieldResolver<unknown, unknown>;
    }
  }
  const shielded = applyMiddleware(apiSchema, recordExecution, ...middlewares);
  const entitySchemas = new Map<string, GraphQLSchema>();

  const monolith: Monolith = {
    state: initialState(),
    context(principal) {
      const fetchEntity: EntityFetcher = async ({ typename, key, selection }) => {
        // What the gateway's look-up does through `_entities`: the entity's fields, with no access rule applied
        // (subgraphs enforce none). The entity's type serves as the query root of a schema of its own.
        const entity = REFERENCES[typename]?.(monolith.state, key) ?? null;
        if (entity === null) return null;
        let schema = entitySchemas.get(typename);
        if (schema === undefined) {
          schema = new GraphQLSchema({ query: apiSchema.getType(typename) as GraphQLObjectType });
          entitySchemas.set(typename, schema);
        }
        const looked = await execute({ schema, document: parse(`{ ${selection} }`), rootValue: entity, contextValue: { ...context, trace: newTrace() } });
        if (looked.errors?.length) throw new Error(`could not look up ${typename}: ${looked.errors[0]?.message ?? ''}`);
        return (looked.data ?? null) as Record<string, unknown> | null;
      };
      const context: MonolithContext = {
        principal,
        requestId: 'differential',
        fetchEntity,
        _shield: { cache: {} },
        // shield never calls it: it swallows what a rule throws (debug: false).
        onRuleError: () => undefined,
        state: monolith.state,
        trace: newTrace(),
      };
      return context;
    },
    async run({ document, variables }, principal) {
      const contextValue = monolith.context(principal);
      const result = await execute({ schema: shielded, document, variableValues: variables, contextValue });
      return { result, trace: contextValue.trace };
    },
  };
  return monolith;
}

/** A resolver that records, in the request's trace, that it ran and what it threw. */
function traced(resolver: Resolver): GraphQLFieldResolver<Record<string, unknown>, MonolithContext> {
  return (parent, args, context, info: GraphQLResolveInfo) => {
    const key = pathKey(responsePathAsArray(info.path));
    context.trace.resolved.add(key);
    try {
      return resolver(parent, args, context);
    } catch (error) {
      if (error instanceof GraphQLError) context.trace.threw.set(key, error);
      throw error;
    }
  };
}
