import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { cacheHints } from '../src/cache/cacheHints.js';
import { cachePolicy, isPublic } from '../src/cache/cachePolicy.js';
import { stableJson } from '../src/cache/publicData.js';
import { COMMITTED_SUPERGRAPH } from './harness.js';

/** A small graph with every kind of hint Apollo Server knows. */
const FIXTURE = cacheHints(
  parse(`
    type Query {
      book: Book
      books: [Book] @cacheControl(maxAge: 10)
      secret: Book @cacheControl(scope: PRIVATE)
      count: Int
      counted: Int @cacheControl(maxAge: 5)
      inherits: Shelf @cacheControl(inheritMaxAge: true)
      shelf: Shelf
      item: Item
      node: Node
      hintedItem: Item @cacheControl(maxAge: 100)
      hintedNode: Node @cacheControl(maxAge: 100)
    }
    type Mutation { rename(id: ID!): Book, remove(id: ID!): Boolean }
    type Book @cacheControl(maxAge: 60) {
      id: ID!
      title: String
      price: Int @cacheControl(maxAge: 20)
      owner: Person
      note: String @cacheControl(scope: PRIVATE)
      sibling: Book @cacheControl(inheritMaxAge: true)
      related: Shelf @cacheControl(inheritMaxAge: true)
    }
    type Shelf @cacheControl(inheritMaxAge: true) { books: [Book] label: String }
    type Person { name: String }
    type Magazine @cacheControl(maxAge: 30, scope: PUBLIC) { id: ID! issue: Int }
    union Item = Book | Magazine
    interface Node { id: ID! }
    type Doc implements Node @cacheControl(maxAge: 40) { id: ID! title: String @cacheControl(maxAge: 25) }
    type Page implements Node @cacheControl(maxAge: 15) { id: ID! }
  `),
);

const policyOf = (query: string) => {
  const policy = cachePolicy(FIXTURE, parse(query));
  return policy === undefined ? undefined : { maxAge: policy.maxAge, scope: policy.scope };
};

describe('cachePolicy: the rules of Apollo Server\'s cache control plugin', () => {
  it.each([
    ['a root field returning a hinted type takes the type\'s maxAge', '{ book { title } }', { maxAge: 60, scope: 'PUBLIC' }],
    ['a field hint replaces the type\'s', '{ books { title } }', { maxAge: 10, scope: 'PUBLIC' }],
    ['a scalar field without a hint inherits (restricts nothing)', '{ book { id title } }', { maxAge: 60, scope: 'PUBLIC' }],
    ['a scalar field with a hint restricts', '{ book { price } }', { maxAge: 20, scope: 'PUBLIC' }],
    ['a root scalar without a hint is 0', '{ count }', { maxAge: 0, scope: 'PUBLIC' }],
    ['a root scalar with a hint takes it', '{ counted }', { maxAge: 5, scope: 'PUBLIC' }],
    ['a composite field whose type has no hint is 0', '{ book { owner { name } } }', { maxAge: 0, scope: 'PUBLIC' }],
    ['PRIVATE anywhere makes the whole PRIVATE', '{ book { title note } }', { maxAge: 60, scope: 'PRIVATE' }],
    ['a scope-only field hint keeps the type\'s maxAge', '{ secret { title } }', { maxAge: 60, scope: 'PRIVATE' }],
    ['the least maxAge of all fields wins', '{ book { title } books { title } counted }', { maxAge: 5, scope: 'PUBLIC' }],
    ['inheritMaxAge on a field whose type has a maxAge: the type\'s maxAge', '{ book { sibling { title } } }', { maxAge: 60, scope: 'PUBLIC' }],
    ['inheritMaxAge on a type: its fields restrict nothing by themselves', '{ book { related { label } } }', { maxAge: 60, scope: 'PUBLIC' }],
    ['a root field returning an inheriting type is still 0', '{ shelf { label } }', { maxAge: 0, scope: 'PUBLIC' }],
    ['inheritMaxAge on a root field is 0 (nothing to inherit from)', '{ inherits { label } }', { maxAge: 0, scope: 'PUBLIC' }],
    ['a union field without a hint is 0, whatever its members\' hints', '{ item { ... on Book { title } ... on Magazine { issue } } }', { maxAge: 0, scope: 'PUBLIC' }],
    ['an interface field without a hint is 0, whatever its implementations\' hints', '{ node { id } }', { maxAge: 0, scope: 'PUBLIC' }],
    ['a union member\'s field hints restrict', '{ hintedItem { ... on Book { price } ... on Magazine { issue } } }', { maxAge: 20, scope: 'PUBLIC' }],
    ['an implementation\'s field hints restrict through the interface', '{ hintedNode { id ... on Doc { title } } }', { maxAge: 25, scope: 'PUBLIC' }],
    ['fragments are walked like inline selections', 'query { book { ...B } } fragment B on Book { price }', { maxAge: 20, scope: 'PUBLIC' }],
    ['__typename restricts nothing', '{ book { __typename title } }', { maxAge: 60, scope: 'PUBLIC' }],
  ])('%s', (_name, query, expected) => {
    expect(policyOf(query)).toEqual(expected);
  });

  it.each([
    ['one type', '{ _entities(representations: []) { ... on Book { title } } }', { maxAge: 60, scope: 'PUBLIC' }],
    ['the least of the types it fetches', '{ _entities(representations: []) { ... on Book { title } ... on Magazine { issue } } }', { maxAge: 30, scope: 'PUBLIC' }],
    ['a type without a hint is 0', '{ _entities(representations: []) { ... on Person { name } } }', { maxAge: 0, scope: 'PUBLIC' }],
    ['its fields restrict it as anywhere else', '{ _entities(representations: []) { ... on Book { price note } } }', { maxAge: 20, scope: 'PRIVATE' }],
  ])('an entity fetch (_entities) is restricted by each fetched type\'s hint, as @apollo/subgraph does: %s', (_name, query, expected) => {
    expect(policyOf(query)).toEqual(expected);
  });

  it('names the object types whose fields it selects, roots left out', () => {
    expect(cachePolicy(FIXTURE, parse('{ book { title owner { name } } }'))?.types).toEqual(['Book', 'Person']);
    expect(cachePolicy(FIXTURE, parse('mutation { rename(id: "1") { title } }'))).toMatchObject({ operation: 'mutation', types: ['Book'] });
    expect(cachePolicy(FIXTURE, parse('mutation { remove(id: "1") }'))).toMatchObject({ operation: 'mutation', types: [] });
  });

  it('depends on every member of a union and every implementation of an interface it selects from', () => {
    expect(cachePolicy(FIXTURE, parse('{ item { ... on Book { title } ... on Magazine { issue } } }'))?.types).toEqual(['Book', 'Magazine']);
    expect(cachePolicy(FIXTURE, parse('{ item { ... on Magazine { issue } } }'))?.types).toEqual(['Magazine']);
    expect(cachePolicy(FIXTURE, parse('{ node { id } }'))?.types).toEqual(['Doc', 'Page']);
  });

  it('has a query\'s root scalars depend on the query root, which no type names (a mutation\'s root scalar names nothing)', () => {
    expect(cachePolicy(FIXTURE, parse('{ counted }'))?.types).toEqual(['Query']);
    expect(cachePolicy(FIXTURE, parse('{ counted book { title } }'))?.types).toEqual(['Book', 'Query']);
    expect(cachePolicy(FIXTURE, parse('{ book { title } }'))?.types).toEqual(['Book']);
  });

  it('does not understand a document that names what the supergraph lacks', () => {
    expect(cachePolicy(FIXTURE, parse('{ book { isbn } }'))).toBeUndefined();
    expect(cachePolicy(FIXTURE, parse('{ nothing }'))).toBeUndefined();
  });

  it.each([
    ['{ book { title } }', true],
    ['{ book { note } }', false],
    ['{ count }', false],
    ['mutation { rename(id: "1") { title } }', false],
  ])('calls %s public: %s (PUBLIC and a maxAge above 0, queries only)', (query, expected) => {
    expect(isPublic(cachePolicy(FIXTURE, parse(query)))).toBe(expected);
  });
});

describe('the demo supergraph\'s hints', () => {
  const hints = cacheHints(parse(readFileSync(COMMITTED_SUPERGRAPH, 'utf8')));
  it.each([
    ['{ topProducts { upc name price } }', { maxAge: 60, scope: 'PUBLIC' }],
    ['{ _entities(representations: []) { ... on Product { inStock shippingEstimate } } }', { maxAge: 10, scope: 'PUBLIC' }],
    ['{ _entities(representations: []) { ... on Product { reviews { body author { id username } } } } }', { maxAge: 30, scope: 'PUBLIC' }],
    ['{ me { name } }', { maxAge: 60, scope: 'PRIVATE' }],
    ['{ user(id: "1") { name email } }', { maxAge: 60, scope: 'PRIVATE' }],
    ['{ _entities(representations: []) { ... on User { birthday } } }', { maxAge: 60, scope: 'PRIVATE' }],
  ])('%s', (query, expected) => {
    const policy = cachePolicy(hints, parse(query));
    expect(policy === undefined ? undefined : { maxAge: policy.maxAge, scope: policy.scope }).toEqual(expected);
  });
});

describe('stableJson', () => {
  it('writes equal objects alike whatever the order of their keys', () => {
    expect(stableJson({ b: 1, a: [{ d: 2, c: null }] })).toBe(stableJson({ a: [{ c: null, d: 2 }], b: 1 }));
    expect(stableJson({ a: [1, 2] })).not.toBe(stableJson({ a: [2, 1] }));
  });
});
