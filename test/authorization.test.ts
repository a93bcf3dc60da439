import { GraphQLError } from 'graphql';
import { allow, deny, rule } from 'graphql-shield';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policies, ruleTree } from '../gateway.config.js';
import { startStack, type GraphQLResponse, type Stack } from './harness.js';

type Caller = 'anonymous' | 'user' | 'owner' | 'admin';
const CALLERS: Record<Exclude<Caller, 'anonymous'>, { subject: string; roles?: string[] }> = {
  user: { subject: '2' }, // Alan: not user 1, no roles
  owner: { subject: '1' }, // Ada: user 1, author of reviews 1 and 4
  admin: { subject: '6', roles: ['admin'] },
};

/** The FORBIDDEN error expected at `path`, located at the `occurrence`-th `needle` of a one-line query `text`. */
const forbiddenAt = (path: (string | number)[], text: string, needle: string, occurrence = 0) => {
  let column = -1;
  for (let found = 0; found <= occurrence; found += 1) column = text.indexOf(needle, column + 1);
  if (column < 0) throw new Error(`"${needle}" is not in ${text}`);
  return { message: 'Not authorised', locations: [{ line: 1, column: column + 1 }], path, extensions: { code: 'FORBIDDEN' } };
};

const PROFILE = '{ user(id: "1") { name email birthday } }';
const COST = '{ product(upc: "1") { name costPrice } }';

describe('the access policy, through the gateway', () => {
  let stack: Stack;
  const headers = async (caller: Caller) => (caller === 'anonymous' ? {} : stack.as(CALLERS[caller]));
  const query = async (caller: Caller, text: string, variables?: Record<string, unknown>): Promise<GraphQLResponse> =>
    stack.query(text, { headers: await headers(caller), ...(variables ? { variables } : {}) });

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  describe.each<[string, string, Record<Caller, unknown>, Record<Caller, ReturnType<typeof forbiddenAt>[] | undefined>]>([
    [
      'me (@authenticated)',
      '{ me { id } }',
      { anonymous: { me: null }, user: { me: { id: '2' } }, owner: { me: { id: '1' } }, admin: { me: { id: '6' } } },
      { anonymous: [forbiddenAt(['me'], '{ me { id } }', 'me')], user: undefined, owner: undefined, admin: undefined },
    ],
    [
      'users (@authenticated)',
      '{ users { id } }',
      { anonymous: { users: null }, user: { users: expect.any(Array) }, owner: { users: expect.any(Array) }, admin: { users: expect.any(Array) } },
      { anonymous: [forbiddenAt(['users'], '{ users { id } }', 'users')], user: undefined, owner: undefined, admin: undefined },
    ],
    [
      "a user's email and birthday (owner or admin)",
      PROFILE,
      {
        anonymous: { user: { name: 'Ada Lovelace', email: null, birthday: null } },
        user: { user: { name: 'Ada Lovelace', email: null, birthday: null } },
        owner: { user: { name: 'Ada Lovelace', email: 'ada@example.com', birthday: 18151210 } },
        admin: { user: { name: 'Ada Lovelace', email: 'ada@example.com', birthday: 18151210 } },
      },
      {
        anonymous: [forbiddenAt(['user', 'email'], PROFILE, 'email'), forbiddenAt(['user', 'birthday'], PROFILE, 'birthday')],
        user: [forbiddenAt(['user', 'email'], PROFILE, 'email'), forbiddenAt(['user', 'birthday'], PROFILE, 'birthday')],
        owner: undefined,
        admin: undefined,
      },
    ],
    [
      "a product's cost price (@policy admin)",
      COST,
      {
        anonymous: { product: { name: 'Table', costPrice: null } },
        user: { product: { name: 'Table', costPrice: null } },
        owner: { product: { name: 'Table', costPrice: null } },
        admin: { product: { name: 'Table', costPrice: 540 } },
      },
      {
        anonymous: [forbiddenAt(['product', 'costPrice'], COST, 'costPrice')],
        user: [forbiddenAt(['product', 'costPrice'], COST, 'costPrice')],
        owner: [forbiddenAt(['product', 'costPrice'], COST, 'costPrice')],
        admin: undefined,
      },
    ],
  ])('%s', (_name, text, data, errors) => {
    it.each(['anonymous', 'user', 'owner', 'admin'] as const)('as %s', async (caller) => {
      const response = await query(caller, text);
      expect(response.status).toBe(200);
      expect(response.body.data).toEqual(data[caller]);
      expect(response.body.errors).toEqual(errors[caller]);
    });
  });

  it('fetches the id an ownership rule reads even when the client did not select it, and never returns it', async () => {
    const response = await query('owner', '{ user(id: "1") { email } }');
    expect(response.body).toEqual({ data: { user: { email: 'ada@example.com' } } });
    expect(JSON.stringify(response.body)).not.toContain('__authz');
  });

  it('follows aliases, and refuses one named like another field (the field the rule reads, say)', async () => {
    const text = '{ user(id: "1") { who: name a: email b: email } }';
    const asUser = await query('user', text);
    expect(asUser.body).toEqual({
      data: { user: { who: 'Ada Lovelace', a: null, b: null } },
      errors: [forbiddenAt(['user', 'a'], text, 'a:'), forbiddenAt(['user', 'b'], text, 'b:')],
    });
    const asOwner = await query('owner', '{ user(id: "1") { who: name a: email } }');
    expect(asOwner.body).toEqual({ data: { user: { who: 'Ada Lovelace', a: 'ada@example.com' } } });
    const shadowing = await query('owner', '{ user(id: "1") { id: name email } }');
    expect(shadowing.status).toBe(400);
    expect(shadowing.body.errors).toEqual([
      {
        message: 'The alias "id" is the name of another field of User: choose an alias that is not a field name',
        locations: [{ line: 1, column: 19 }],
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'ALIAS_SHADOWS_FIELD' },
      },
    ]);
  });

  it('checks fields selected through fragments and inline fragments', async () => {
    const response = await query('user', 'fragment Private on User { email } { user(id: "1") { ...Private ... on User { birthday } } }');
    expect(response.body.data).toEqual({ user: { email: null, birthday: null } });
    expect(response.body.errors?.map((error) => error.path)).toEqual([['user', 'email'], ['user', 'birthday']]);
  });

  it('honours @include with variables: a field not selected is not denied', async () => {
    const text = 'query ($private: Boolean!) { user(id: "1") { name email @include(if: $private) } }';
    expect((await query('user', text, { private: false })).body).toEqual({ data: { user: { name: 'Ada Lovelace' } } });
    const included = await query('user', text, { private: true });
    expect(included.body.data).toEqual({ user: { name: 'Ada Lovelace', email: null } });
    expect(included.body.errors?.[0]?.path).toEqual(['user', 'email']);
  });

  it('decides ownership per object across entity joins (an email reached through reviews { author })', async () => {
    const text = '{ product(upc: "1") { reviews { id author { username email } } } }';
    const response = await query('owner', text);
    expect(response.body.data).toEqual({
      product: {
        reviews: [
          { id: '1', author: { username: '@ada', email: 'ada@example.com' } },
          { id: '2', author: { username: '@complete', email: null } },
        ],
      },
    });
    expect(response.body.errors).toEqual([forbiddenAt(['product', 'reviews', 1, 'author', 'email'], text, 'email')]);
  });

  it('keeps introspection and __typename available', async () => {
    const response = await query('anonymous', '{ __schema { queryType { name } } user(id: "1") { __typename email } }');
    expect(response.body.data).toEqual({ __schema: { queryType: { name: 'Query' } }, user: { __typename: 'User', email: null } });
  });

  describe('mutations', () => {
    it.each<[string, Caller, string, 'products' | 'reviews', string]>([
      ['createProduct by a user', 'user', 'mutation { createProduct(upc: "x1", name: "X", price: 1) { upc } }', 'products', 'Mutation.createProduct'],
      ['updatePrice by an anonymous caller', 'anonymous', 'mutation { updatePrice(upc: "1", price: 1) { price } }', 'products', 'Mutation.updatePrice'],
      ['createReview by an anonymous caller', 'anonymous', 'mutation { createReview(upc: "1", body: "Hi", rating: 5) { id } }', 'reviews', 'Mutation.createReview'],
      ['deleteReview of another user\'s review', 'user', 'mutation { deleteReview(id: "1") }', 'reviews', 'Mutation.deleteReview'],
      ['a permitted mutation that selects a forbidden field', 'user', 'mutation { createReview(upc: "1", body: "Hi", rating: 5) { product { costPrice } } }', 'reviews', 'Mutation.createReview'],
    ])('refuses %s with 403 before any subgraph sees the mutation', async (_case, caller, text, subgraph, field) => {
      const response = await query(caller, text);
      expect(response.status).toBe(403);
      expect(response.body).toEqual({ errors: [{ message: 'Not authorised', extensions: { code: 'FORBIDDEN' } }] });
      expect(stack.subgraphs[subgraph].counter.count(field)).toBe(0);
      expect((await query('anonymous', '{ product(upc: "1") { price } }')).body).toEqual({ data: { product: { price: 899 } } });
    });

    it('runs a permitted mutation, then nulls the fields of its answer that ownership decides against', async () => {
      const response = await query('user', 'mutation { createReview(upc: "1", body: "Sturdy.", rating: 4) { rating product { reviews { author { username email } } } } }');
      expect(response.status).toBe(200);
      const reviews = (response.body.data?.['createReview'] as { product: { reviews: { author: { username: string; email: string | null } }[] } }).product.reviews;
      expect(reviews.find((review) => review.author.username === '@complete')?.author.email).toBe('alan@example.com');
      expect(reviews.find((review) => review.author.username === '@ada')?.author.email).toBeNull();
      expect(response.body.errors?.every((error) => error.extensions?.['code'] === 'FORBIDDEN')).toBe(true);
    });

    it('lets an admin run the catalog mutations and see the cost price', async () => {
      const response = await query('admin', 'mutation { updatePrice(upc: "3", price: 60) { price costPrice } }');
      expect(response.body).toEqual({ data: { updatePrice: { price: 60, costPrice: 30 } } });
      expect(stack.subgraphs.products.counter.count('Mutation.updatePrice')).toBe(1);
    });

    it('lets the author delete their own review, after looking its author up', async () => {
      const created = await query('user', 'mutation { createReview(upc: "5", body: "Fine.", rating: 3) { id } }');
      const id = (created.body.data?.['createReview'] as { id: string }).id;
      const lookups = stack.subgraphs.reviews.counter.count('Query._entities');
      const response = await query('user', 'mutation ($id: ID!) { deleteReview(id: $id) }', { id });
      expect(response.body).toEqual({ data: { deleteReview: true } });
      expect(stack.subgraphs.reviews.counter.count('Query._entities')).toBe(lookups + 1);
      expect(stack.subgraphs.reviews.counter.count('Mutation.deleteReview')).toBe(1);
    });
  });
});

describe('AUTHZ_DENIED_QUERY_FIELDS=reject', () => {
  it('refuses a query that selects a denied field with 403: before any subgraph call when the rule needs no data, after it otherwise', async () => {
    const stack = await startStack({ env: { AUTHZ_DENIED_QUERY_FIELDS: 'reject' } });
    try {
      const user = { headers: await stack.as({ subject: '2' }) };
      const refusal = { errors: [{ message: 'Not authorised', extensions: { code: 'FORBIDDEN' } }] };
      const cost = await stack.query('{ product(upc: "1") { name costPrice } }', user);
      expect(cost.status).toBe(403);
      expect(cost.body).toEqual(refusal);
      expect(stack.subgraphs.products.counter.received).toBe(0);

      const email = await stack.query('{ user(id: "1") { name email } }', user);
      expect(email.status).toBe(403);
      expect(email.body).toEqual(refusal);
      const allowed = await stack.query('{ user(id: "1") { name email } }', { headers: await stack.as({ subject: '1' }) });
      expect(allowed.body).toEqual({ data: { user: { name: 'Ada Lovelace', email: 'ada@example.com' } } });
    } finally {
      await stack.stop();
    }
  });
});

describe('policies a test sets', () => {
  it('propagates the null of a denied non-null field to its parent, as GraphQL requires, and calls no subgraph for it', async () => {
    // Product.upc is non-null: denying it nulls each product, and the list keeps its (nullable) items as null.
    const stack = await startStack({ policy: { ruleTree: { ...ruleTree, Product: { ...(ruleTree as Record<string, object>)['Product'], upc: deny } }, policies } });
    try {
      const text = '{ topProducts(first: 2) { upc name } }';
      const response = await stack.query(text);
      expect(response.body).toEqual({
        data: { topProducts: [null, null] },
        errors: [forbiddenAt(['topProducts', 0, 'upc'], text, 'upc'), forbiddenAt(['topProducts', 1, 'upc'], text, 'upc')],
      });
    } finally {
      await stack.stop();
    }
  });

  it('denies a field whose rule throws, logs the error, and sends none of it', async () => {
    const broken = rule('broken')(() => {
      throw new Error('connection to db-primary.internal:5432 refused');
    });
    const stack = await startStack({ policy: { ruleTree: { ...ruleTree, Product: { ...(ruleTree as Record<string, object>)['Product'], price: broken } }, policies } });
    try {
      const text = '{ product(upc: "1") { name price } }';
      const response = await stack.query(text);
      expect(response.body).toEqual({ data: { product: { name: 'Table', price: null } }, errors: [forbiddenAt(['product', 'price'], text, 'price')] });
      expect(JSON.stringify(response.body)).not.toContain('db-primary');
      const logged = stack.logs.find((entry) => entry['msg'] === 'an access rule threw: the field is denied');
      expect(logged).toMatchObject({ rule: 'broken', err: { message: 'connection to db-primary.internal:5432 refused' } });
    } finally {
      await stack.stop();
    }
  });

  it('denies every field the policy does not name (fallback deny), and logs how many at start', async () => {
    const stack = await startStack({ policy: { ruleTree: { Query: { product: allow }, Product: { name: allow } }, policies } });
    try {
      const response = await stack.query('{ product(upc: "1") { name price } topProducts { name } }');
      expect(response.body.data).toEqual({ product: { name: 'Table', price: null }, topProducts: null });
      expect(response.body.errors?.map((error) => error.extensions?.['code'])).toEqual(['FORBIDDEN', 'FORBIDDEN']);
      const startLog = stack.logs.find((entry) => String(entry['msg']).endsWith('fields have no rule and fall back to deny'));
      expect(startLog?.['fields']).toEqual(expect.arrayContaining(['Product.price', 'Query.topProducts', 'User.email']));
      expect(startLog?.['fields']).not.toContain('Query.me'); // @authenticated decides it
    } finally {
      await stack.stop();
    }
  });

  it('passes a rule\'s own GraphQLError through with its code', async () => {
    const explained = rule('explained')(() => new GraphQLError('Prices are shown to members only', { extensions: { code: 'FORBIDDEN' } }));
    const stack = await startStack({ policy: { ruleTree: { ...ruleTree, Product: { ...(ruleTree as Record<string, object>)['Product'], price: explained } }, policies } });
    try {
      const text = '{ product(upc: "1") { price } }';
      const response = await stack.query(text);
      expect(response.body.errors).toEqual([{ ...forbiddenAt(['product', 'price'], text, 'price'), message: 'Prices are shown to members only' }]);
    } finally {
      await stack.stop();
    }
  });
});
