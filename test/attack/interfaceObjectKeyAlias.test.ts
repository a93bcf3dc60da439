import { allow, rule } from 'graphql-shield';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFederationStack, type FederationStack } from '../federation/federationStack.js';
import { interfaceObjectGraph } from '../federation/fixtures/interfaceObject/index.js';

// The @interfaceObject graph of the federation fixtures: `Media` is an entity interface (inventory) that the ratings
// subgraph contributes `rating` to; `topRated` (ratings) returns Media by id only, so the concrete type comes from
// inventory. A rule on Book.rating reads the Book's key `id` (its graphql-shield fragment): the gateway fetches it
// under `... on Book { __authz_Book__id: id }`.
//
// 1. A client alias named like the key (`id: title`) beside it makes @apollo/gateway 2.14.4 answer the key with the
//    aliased field's value (plain Apollo answers `{ topRated { id: title ... on Book { x: id } } }` with x = "Dune"):
//    the rule would read a value the client chose. Such aliases are refused (ALIAS_SHADOWS_FIELD).
// 2. @apollo/gateway drops whole objects to null, without any error, for `{ topRated { ...BookType rating ... on Book
//    { x: id } __typename } } fragment BookType on Book { __typename }`: a read under a type condition beside the
//    client's. Where the interface declares the field, the gateway reads it without a type condition.

const EMBARGOED = '1';
const notEmbargoed = rule('notEmbargoed', { cache: 'strict', fragment: 'fragment MediaId on Book { id }' })((parent: { id?: unknown }) => parent.id !== EMBARGOED);

describe('a rule reading the key of an @interfaceObject entity', () => {
  let reference: FederationStack;
  let guarded: FederationStack;
  beforeAll(async () => {
    reference = await startFederationStack({ subgraphs: interfaceObjectGraph, policy: { ruleTree: { Query: allow, Book: allow, Movie: allow } } });
    guarded = await startFederationStack({ subgraphs: interfaceObjectGraph, policy: { ruleTree: { Query: allow, Book: { '*': allow, rating: notEmbargoed }, Movie: allow } } });
  });
  afterAll(async () => {
    await reference?.stop();
    await guarded?.stop();
  });

  it('withholds the embargoed book\'s rating', async () => {
    const response = await guarded.query('{ topRated { rating } }');
    expect(response.body.data).toEqual({ topRated: [{ rating: null }, { rating: 4 }, { rating: null }] });
    expect(response.body.errors?.map((error) => error.path)).toEqual([['topRated', 0, 'rating']]);
  });

  it('refuses an alias that names the key (or any other field): @apollo/gateway would answer the key with it', async () => {
    const response = await guarded.query('{ topRated { id: title rating } }');
    expect(response.status).toBe(400);
    expect(response.body.errors?.map((error) => error.extensions?.['validationErrorCode'])).toEqual(['ALIAS_SHADOWS_FIELD']);
    expect((await reference.query('{ topRated { id: title rating } }')).status).toBe(400);
  });

  it('never drops an object to null without an error because of what the rewrite added', async () => {
    const query = '{ topRated { ...BookType rating } } fragment BookType on Book { __typename }';
    // Untouched, @apollo/gateway answers this right.
    expect((await reference.query(query)).body).toEqual({ data: { topRated: [{ __typename: 'Book', rating: 5 }, { rating: 4 }, { __typename: 'Book', rating: null }] } });
    const response = await guarded.query(query);
    expect(response.body.data).toEqual({ topRated: [{ __typename: 'Book', rating: null }, { rating: 4 }, { __typename: 'Book', rating: null }] });
    expect(response.body.errors?.map((error) => error.path)).toEqual([['topRated', 0, 'rating']]);
  });
});
