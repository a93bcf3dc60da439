import { parse } from 'graphql';
import { allow, rule } from 'graphql-shield';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyInput } from '../src/config/index.js';
import type { ShieldRule } from '../src/index.js';
import { startFederationStack, type FederationStack, type FixtureSubgraph } from './federation/federationStack.js';
import { interfaceObjectGraph } from './federation/fixtures/interfaceObject/index.js';
import { interfacesGraph } from './federation/fixtures/interfaces/index.js';
import { nullableKeysGraph } from './federation/fixtures/nullableKeys/index.js';
import { nullKeysGraph } from './federation/fixtures/nullKeys/index.js';
import { providesGraph } from './federation/fixtures/provides/index.js';
import { requiresArgumentsGraph } from './federation/fixtures/requiresArguments/index.js';
import { unionsGraph } from './federation/fixtures/unions/index.js';
import type { GraphQLResponse } from './harness.js';

/*
 * The access policy must not change what federation answers. Each graph below is a federation shape the demo graph
 * does not have, and each operation runs on two gateways over the same subgraphs: one that allows everything (so runs
 * the client's document untouched, as plain @apollo/gateway), and one whose rules all allow but read parent fields
 * through their graphql-shield `fragment`, which makes the gateway add those fields to the document it plans. The
 * first must answer what the federation spec and the fixtures' data say; the second must answer exactly the same.
 * A third gateway per graph denies one field on what its rule reads of the parent.
 */

/** A response body as the gateway sends it; `extensions` carries what @apollo/gateway reports beside the errors. */
type Body = GraphQLResponse['body'] & { extensions?: Record<string, unknown> };
type Path = readonly (string | number)[];

interface Operation {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  /** What the federation spec and the fixtures' seeded data say the answer is. */
  expected: Body;
}

interface Denial {
  /** The object type and field the denying rule guards; every other field is allowed. */
  type: string;
  field: string;
  /** A graphql-shield rule with a `fragment`, denying on what it reads of the parent. */
  rule: ShieldRule;
  query: string;
  /** Where the one FORBIDDEN error must be, and the text of the field in the (one-line) query it points at. */
  path: Path;
  at: { text: string; occurrence?: number };
}

interface Shape {
  name: string;
  subgraphs: readonly FixtureSubgraph[];
  /**
   * Every object type of the API schema but Query, with what its always-allowing rule reads of the parent (a
   * fragment's selection): chosen so that some reads are missing on the interface a selection is typed with, some are
   * keys that come back null, and some are owned by another subgraph than the one that returns the object.
   */
  reads: Readonly<Record<string, string>>;
  operations: readonly Operation[];
  denial: Denial;
}

/** `allow` for Query and every object type the shape lists: a rule tree that names every field of its graph. */
function allowingTree(shape: Shape): Record<string, ShieldRule> {
  return Object.fromEntries(['Query', ...Object.keys(shape.reads)].map((type) => [type, allow]));
}

/** Allows every field: the gateway finds nothing to decide and runs the client's document as it came. */
function allowAll(shape: Shape): PolicyInput {
  return { ruleTree: allowingTree(shape) };
}

/** Allows every field, through rules that read parent fields, so that the gateway must fetch what they read. */
function readingParents(shape: Shape): PolicyInput {
  const ruleTree: Record<string, ShieldRule> = { Query: allow };
  for (const [type, selection] of Object.entries(shape.reads)) {
    ruleTree[type] = rule(`reads${type}`, { cache: 'strict', fragment: `fragment Reads${type} on ${type} { ${selection} }` })(() => true);
  }
  return { ruleTree };
}

/** Allows everything but the denial's field, which its rule decides on the parent. */
function denying(shape: Shape): PolicyInput {
  const { type, field } = shape.denial;
  return { ruleTree: { ...allowingTree(shape), [type]: { '*': allow, [field]: shape.denial.rule } } };
}

/** The FORBIDDEN error a denied field gets, located at the `occurrence`-th `text` of a one-line query. */
function forbiddenAt(path: Path, query: string, text: string, occurrence = 0) {
  let column = -1;
  for (let found = 0; found <= occurrence; found += 1) column = query.indexOf(text, column + 1);
  if (column < 0 || query.includes('\n')) throw new Error(`"${text}" is not in the one-line query ${query}`);
  return { message: 'Not authorised', locations: [{ line: 1, column: column + 1 }], path: [...path], extensions: { code: 'FORBIDDEN' } };
}

function valueAt(data: unknown, path: Path): unknown {
  return path.reduce<unknown>((value, key) => (value as Record<string | number, unknown> | null | undefined)?.[key], data);
}

/** A copy of `data` with the value at `path` (which must exist) replaced by null. */
function nulledAt(data: unknown, path: Path): unknown {
  const copy = structuredClone(data) as Record<string | number, unknown>;
  const parent = valueAt(copy, path.slice(0, -1)) as Record<string | number, unknown> | null | undefined;
  const last = path.at(-1);
  if (parent === null || parent === undefined || last === undefined || !(last in parent)) throw new Error(`nothing at ${path.join('.')}`);
  parent[last] = null;
  return copy;
}

const SHAPES: readonly Shape[] = [
  {
    name: 'interfaces across subgraphs',
    subgraphs: interfacesGraph,
    reads: {
      // WithWarranty has no id: a selection typed WithWarranty cannot select it.
      Car: 'id',
      // Product has no brand, and brands come from the makers subgraph.
      Toaster: 'brand',
      Kettle: 'brand',
      Manual: 'title',
    },
    operations: [
      {
        name: 'ids through Node',
        query: '{ nodes { id } }',
        expected: { data: { nodes: [{ id: 'car-1' }, { id: 'toaster-1' }, { id: 'manual-1' }, { id: 'car-2' }] } },
      },
      {
        name: '__typename and an inline fragment on an implementation',
        query: '{ nodes { __typename id ... on Car { model warranty } } }',
        expected: {
          data: {
            nodes: [
              { __typename: 'Car', id: 'car-1', model: 'Roadster', warranty: 36 },
              { __typename: 'Toaster', id: 'toaster-1' },
              { __typename: 'Manual', id: 'manual-1' },
              { __typename: 'Car', id: 'car-2', model: 'Coupe', warranty: null },
            ],
          },
        },
      },
      {
        name: 'an interface without id inside Node',
        query: '{ nodes { ... on Node { ... on WithWarranty { warranty } } } }',
        expected: { data: { nodes: [{ warranty: 36 }, { warranty: 12 }, {}, { warranty: null }] } },
      },
      {
        name: 'a named fragment on the interface without id, aliased',
        query: '{ nodes { ...Covered } } fragment Covered on WithWarranty { months: warranty }',
        expected: { data: { nodes: [{ months: 36 }, { months: 12 }, {}, { months: null }] } },
      },
      {
        name: 'two interfaces side by side, with __typename',
        query: '{ nodes { ... on WithWarranty { __typename warranty } ... on Product { upc name } } }',
        expected: {
          data: {
            nodes: [
              { __typename: 'Car', warranty: 36 },
              { __typename: 'Toaster', warranty: 12, upc: 't-1', name: 'Toastmaster' },
              {},
              { __typename: 'Car', warranty: null },
            ],
          },
        },
      },
      {
        name: 'the Product interface, which lacks the brand its rules read',
        query: '{ products { name } }',
        expected: { data: { products: [{ name: 'Toastmaster' }, { name: 'Boiler' }] } },
      },
      {
        name: 'Product fields beside fields of two other subgraphs',
        query: '{ products { __typename upc name ... on Toaster { brand warranty } ... on Kettle { maker: brand } } }',
        expected: {
          data: {
            products: [
              { __typename: 'Toaster', upc: 't-1', name: 'Toastmaster', brand: 'Breville', warranty: 12 },
              { __typename: 'Kettle', upc: 'k-1', name: 'Boiler', maker: 'Smeg' },
            ],
          },
        },
      },
      {
        name: 'two aliased root fields',
        query: '{ cars: nodes { ... on Car { id } } all: products { upc } }',
        expected: { data: { cars: [{ id: 'car-1' }, {}, {}, { id: 'car-2' }], all: [{ upc: 't-1' }, { upc: 'k-1' }] } },
      },
    ],
    denial: {
      type: 'Car',
      field: 'warranty',
      rule: rule('warrantyNotForCar1', { cache: 'strict', fragment: 'fragment CarId on Car { id }' })((parent: { id?: unknown }) => parent.id !== 'car-1'),
      query: '{ nodes { ... on Node { ... on WithWarranty { warranty } } } }',
      path: ['nodes', 0, 'warranty'],
      at: { text: 'warranty }' },
    },
  },
  {
    name: 'unions across subgraphs',
    subgraphs: unionsGraph,
    reads: {
      // Each entity member's read is owned by another subgraph than the union's (search); a film's reaches on into
      // the books subgraph through a nested selection.
      Book: 'pages',
      Film: 'minutes basedOn { isbn title }',
      Notice: 'text',
    },
    operations: [
      {
        name: '__typename only',
        query: '{ search { __typename } }',
        expected: { data: { search: [{ __typename: 'Book' }, { __typename: 'Film' }, { __typename: 'Notice' }, { __typename: 'Film' }, { __typename: 'Book' }] } },
      },
      {
        name: 'one field name on two members, each joined from its own subgraph',
        query: '{ search { ... on Book { title } ... on Film { title } } }',
        expected: { data: { search: [{ title: 'Dune' }, { title: 'Dune' }, {}, { title: 'Alien' }, { title: 'Emma' }] } },
      },
      {
        name: 'every member, with __typename',
        query: '{ search { __typename ... on Book { isbn title pages } ... on Film { id title minutes } ... on Notice { text } } }',
        expected: {
          data: {
            search: [
              { __typename: 'Book', isbn: '978-1', title: 'Dune', pages: 412 },
              { __typename: 'Film', id: 'f-1', title: 'Dune', minutes: 155 },
              { __typename: 'Notice', text: 'Results for members only are hidden' },
              { __typename: 'Film', id: 'f-2', title: 'Alien', minutes: 117 },
              { __typename: 'Book', isbn: '978-2', title: 'Emma', pages: 474 },
            ],
          },
        },
      },
      {
        name: 'a nested join: a film, then the book it is based on',
        query: '{ search { ... on Film { title basedOn { title pages } } } }',
        expected: { data: { search: [{}, { title: 'Dune', basedOn: { title: 'Dune', pages: 412 } }, {}, { title: 'Alien', basedOn: null }, {}] } },
      },
      {
        name: 'a named fragment on the union, aliased',
        query: '{ best: top { ...Hit } } fragment Hit on SearchResult { kind: __typename ... on Film { name: title } }',
        expected: { data: { best: { kind: 'Film', name: 'Dune' } } },
      },
      {
        name: 'a fragment on a member the result is not',
        query: '{ top { ... on Book { title } } }',
        expected: { data: { top: {} } },
      },
    ],
    denial: {
      type: 'Book',
      field: 'title',
      rule: rule('titleOnlyForShortBooks', { cache: 'strict', fragment: 'fragment BookPages on Book { pages }' })((parent: { pages?: unknown }) => typeof parent.pages === 'number' && parent.pages <= 450),
      query: '{ search { ... on Book { title } ... on Film { title } } }',
      path: ['search', 4, 'title'],
      at: { text: 'title' },
    },
  },
  {
    name: '@interfaceObject',
    subgraphs: interfaceObjectGraph,
    reads: {
      // Owned by inventory, while featured and topRated come from ratings, which cannot tell a Book from a Movie.
      Book: 'title',
      Movie: 'director',
    },
    operations: [
      {
        name: 'a field only the @interfaceObject subgraph has',
        query: '{ featured { id rating } }',
        expected: { data: { featured: { id: '2', rating: 4 } } },
      },
      {
        name: 'with __typename',
        query: '{ featured { __typename id rating } }',
        expected: { data: { featured: { __typename: 'Movie', id: '2', rating: 4 } } },
      },
      {
        name: 'with inline fragments on the implementations',
        query: '{ featured { id rating ... on Movie { director } ... on Book { author } } }',
        expected: { data: { featured: { id: '2', rating: 4, director: 'Ridley Scott' } } },
      },
      {
        name: 'a list from the @interfaceObject subgraph',
        query: '{ topRated { id rating } }',
        expected: { data: { topRated: [{ id: '1', rating: 5 }, { id: '2', rating: 4 }, { id: '3', rating: null }] } },
      },
      {
        name: 'fields of the owner and of each implementation, with __typename',
        query: '{ topRated { __typename title ... on Book { author } ... on Movie { director } } }',
        expected: {
          data: {
            topRated: [
              { __typename: 'Book', title: 'Dune', author: 'Frank Herbert' },
              { __typename: 'Movie', title: 'Alien', director: 'Ridley Scott' },
              { __typename: 'Book', title: 'Emma', author: 'Jane Austen' },
            ],
          },
        },
      },
      {
        name: 'from the owner, joined to the @interfaceObject subgraph, aliased',
        query: '{ media { id title stars: rating } }',
        expected: { data: { media: [{ id: '1', title: 'Dune', stars: 5 }, { id: '2', title: 'Alien', stars: 4 }, { id: '3', title: 'Emma', stars: null }] } },
      },
      {
        name: 'a named fragment on the interface',
        query: '{ topRated { ...Rated } } fragment Rated on Media { id rating }',
        expected: { data: { topRated: [{ id: '1', rating: 5 }, { id: '2', rating: 4 }, { id: '3', rating: null }] } },
      },
    ],
    denial: {
      type: 'Book',
      field: 'rating',
      rule: rule('noRatingForDune', { cache: 'strict', fragment: 'fragment BookTitle on Book { title }' })((parent: { title?: unknown }) => parent.title !== 'Dune'),
      query: '{ topRated { id rating } }',
      path: ['topRated', 0, 'rating'],
      at: { text: 'rating' },
    },
  },
  {
    name: '@requires with arguments',
    subgraphs: requiresArgumentsGraph,
    reads: {
      // A field with an argument left to its default, and a computed field of another subgraph that @requires.
      Parcel: 'weight cost',
    },
    operations: [
      {
        name: 'a field that requires a field with an argument',
        query: '{ parcels { id cost } }',
        expected: { data: { parcels: [{ id: 'p-1', cost: 450 }, { id: 'p-2', cost: 150 }, { id: 'p-3', cost: null }] } },
      },
      {
        name: 'the requiring field twice, with and without its argument',
        query: '{ parcels { destination standard: cost express: cost(express: true) } }',
        expected: {
          data: {
            parcels: [
              { destination: 'Lisbon', standard: 450, express: 900 },
              { destination: 'Oslo', standard: 150, express: 300 },
              { destination: 'Rome', standard: null, express: null },
            ],
          },
        },
      },
      {
        name: 'the required field selected by the client too, with its argument and aliased without',
        query: '{ parcels { grams: weight(unit: GRAM) kilograms: weight cost } }',
        expected: {
          data: {
            parcels: [
              { grams: 2500, kilograms: 2.5, cost: 450 },
              { grams: 400, kilograms: 0.4, cost: 150 },
              { grams: null, kilograms: null, cost: null },
            ],
          },
        },
      },
      {
        name: 'a named fragment with the argument as a variable',
        query: 'query ($express: Boolean!) { parcel(id: "p-2") { ...Priced } } fragment Priced on Parcel { cost(express: $express) destination }',
        variables: { express: true },
        expected: { data: { parcel: { cost: 300, destination: 'Oslo' } } },
      },
      {
        name: '__typename and the key only',
        query: '{ parcels { __typename id } }',
        expected: { data: { parcels: [{ __typename: 'Parcel', id: 'p-1' }, { __typename: 'Parcel', id: 'p-2' }, { __typename: 'Parcel', id: 'p-3' }] } },
      },
    ],
    denial: {
      type: 'Parcel',
      field: 'cost',
      rule: rule('costUpToTwoKilograms', { cache: 'strict', fragment: 'fragment ParcelWeight on Parcel { weight }' })((parent: { weight?: unknown }) => !(typeof parent.weight === 'number' && parent.weight > 2)),
      query: '{ parcels { id cost } }',
      path: ['parcels', 0, 'cost'],
      at: { text: 'cost' },
    },
  },
  {
    name: '@provides',
    subgraphs: providesGraph,
    reads: {
      // Not provided: a rule on the provided path needs the accounts subgraph.
      User: 'name',
      Review: 'body',
    },
    operations: [
      {
        name: 'the provided field, through the providing path',
        query: '{ reviews { body author { username } } }',
        expected: { data: { reviews: [{ body: 'Great', author: { username: 'ada' } }, { body: 'Meh', author: { username: 'alan' } }, { body: 'Again', author: { username: 'ada' } }] } },
      },
      {
        name: 'the key and the provided field, with __typename',
        query: '{ reviews { author { __typename id username } } }',
        expected: {
          data: {
            reviews: [
              { author: { __typename: 'User', id: 'u-1', username: 'ada' } },
              { author: { __typename: 'User', id: 'u-2', username: 'alan' } },
              { author: { __typename: 'User', id: 'u-1', username: 'ada' } },
            ],
          },
        },
      },
      {
        name: 'a field the providing subgraph does not provide',
        query: '{ reviews { author { name } } }',
        expected: { data: { reviews: [{ author: { name: 'Ada Lovelace' } }, { author: { name: 'Alan Turing' } }, { author: { name: 'Ada Lovelace' } }] } },
      },
      {
        name: 'the shareable field from its owner',
        query: '{ users { username name } }',
        expected: { data: { users: [{ username: 'ada', name: 'Ada Lovelace' }, { username: 'alan', name: 'Alan Turing' }] } },
      },
      {
        name: 'nested: owner, then the providing path, then the owner again',
        query: '{ users { username reviews { body author { username name } } } }',
        expected: {
          data: {
            users: [
              {
                username: 'ada',
                reviews: [
                  { body: 'Great', author: { username: 'ada', name: 'Ada Lovelace' } },
                  { body: 'Again', author: { username: 'ada', name: 'Ada Lovelace' } },
                ],
              },
              { username: 'alan', reviews: [{ body: 'Meh', author: { username: 'alan', name: 'Alan Turing' } }] },
            ],
          },
        },
      },
      {
        name: 'the provided field in a named fragment, aliased',
        query: '{ reviews { id by: author { ...Handle } } } fragment Handle on User { handle: username }',
        expected: { data: { reviews: [{ id: 'r-1', by: { handle: 'ada' } }, { id: 'r-2', by: { handle: 'alan' } }, { id: 'r-3', by: { handle: 'ada' } }] } },
      },
    ],
    denial: {
      type: 'User',
      field: 'username',
      rule: rule('usernameNotForAlan', { cache: 'strict', fragment: 'fragment UserName on User { name }' })((parent: { name?: unknown }) => parent.name !== 'Alan Turing'),
      query: '{ reviews { body author { username } } }',
      path: ['reviews', 1, 'author', 'username'],
      at: { text: 'username' },
    },
  },
  {
    name: 'a non-null key that comes back null',
    subgraphs: nullKeysGraph,
    reads: {
      // Book b3's id: non-null, and unknown, since the catalog has no entry for b3.
      Book: 'id',
      BookContainer: 'label',
      Author: 'name',
    },
    operations: [
      {
        name: 'a join that needs the unknown key',
        query: '{ bookContainers { book { upc author { name } } } }',
        expected: {
          data: {
            bookContainers: [
              { book: { upc: 'b1', author: { name: 'Frank Herbert' } } },
              { book: { upc: 'b2', author: { name: 'Jane Austen' } } },
              { book: { upc: 'b3', author: null } },
              { book: null },
            ],
          },
        },
      },
      {
        name: 'a field of the subgraph whose entity is null',
        query: '{ bookContainers { label book { upc title } } }',
        expected: {
          data: {
            bookContainers: [
              { label: 'A', book: { upc: 'b1', title: 'Dune' } },
              { label: 'B', book: { upc: 'b2', title: 'Emma' } },
              { label: 'C', book: { upc: 'b3', title: null } },
              { label: 'D', book: null },
            ],
          },
        },
      },
      {
        name: 'the unknown non-null key selected by the client',
        query: '{ bookContainers { book { id upc } } }',
        // Null in a non-null position nulls the nearest nullable parent (GraphQL's value completion); @apollo/gateway
        // reports it in `extensions.valueCompletion`, not in `errors`.
        expected: {
          data: { bookContainers: [{ book: { id: '1', upc: 'b1' } }, { book: { id: '2', upc: 'b2' } }, { book: null }, { book: null }] },
          extensions: {
            valueCompletion: [{ message: 'Cannot return null for non-nullable field Book.id.', path: ['bookContainers', 2, 'book', 'id'], extensions: { code: 'INVALID_GRAPHQL' } }],
          },
        },
      },
      {
        name: 'with __typename at each level',
        query: '{ bookContainers { book { __typename upc author { __typename name } } } }',
        expected: {
          data: {
            bookContainers: [
              { book: { __typename: 'Book', upc: 'b1', author: { __typename: 'Author', name: 'Frank Herbert' } } },
              { book: { __typename: 'Book', upc: 'b2', author: { __typename: 'Author', name: 'Jane Austen' } } },
              { book: { __typename: 'Book', upc: 'b3', author: null } },
              { book: null },
            ],
          },
        },
      },
      {
        name: 'aliases at every level',
        query: '{ shelf: bookContainers { tag: label item: book { code: upc writer: author { name } } } }',
        expected: {
          data: {
            shelf: [
              { tag: 'A', item: { code: 'b1', writer: { name: 'Frank Herbert' } } },
              { tag: 'B', item: { code: 'b2', writer: { name: 'Jane Austen' } } },
              { tag: 'C', item: { code: 'b3', writer: null } },
              { tag: 'D', item: null },
            ],
          },
        },
      },
      {
        name: 'the join in a named fragment',
        query: '{ bookContainers { book { ...Writer } } } fragment Writer on Book { author { name } }',
        expected: {
          data: { bookContainers: [{ book: { author: { name: 'Frank Herbert' } } }, { book: { author: { name: 'Jane Austen' } } }, { book: { author: null } }, { book: null }] },
        },
      },
    ],
    denial: {
      type: 'Book',
      field: 'author',
      rule: rule('authorNotForBook2', { cache: 'strict', fragment: 'fragment BookId on Book { id }' })((parent: { id?: unknown }) => parent.id !== '2'),
      query: '{ bookContainers { book { upc author { name } } } }',
      path: ['bookContainers', 1, 'book', 'author'],
      at: { text: 'author' },
    },
  },
  {
    name: 'nullable keys',
    subgraphs: nullableKeysGraph,
    reads: {
      // The nullable key, null for the prototype.
      Gadget: 'serial',
      // Owned by warranty, joined by a code that is null for the prototype's insurer.
      Insurer: 'name',
    },
    operations: [
      {
        name: 'a field of the owner only',
        query: '{ gadgets { name } }',
        expected: { data: { gadgets: [{ name: 'Phone' }, { name: 'Prototype' }, { name: 'Watch' }] } },
      },
      {
        name: 'a join by a key that is null for one entity',
        query: '{ gadgets { serial name covered } }',
        expected: {
          data: {
            gadgets: [
              { serial: 'SN-1', name: 'Phone', covered: true },
              { serial: null, name: 'Prototype', covered: null },
              { serial: 'SN-3', name: 'Watch', covered: false },
            ],
          },
        },
      },
      {
        name: 'a nested entity with a nullable key',
        query: '{ gadgets { name insurer { code name } } }',
        expected: {
          data: {
            gadgets: [
              { name: 'Phone', insurer: { code: 'AX', name: 'Axa' } },
              { name: 'Prototype', insurer: { code: null, name: null } },
              { name: 'Watch', insurer: null },
            ],
          },
        },
      },
      {
        name: 'joined fields only, with __typename',
        query: '{ gadgets { __typename covered insurer { __typename name } } }',
        expected: {
          data: {
            gadgets: [
              { __typename: 'Gadget', covered: true, insurer: { __typename: 'Insurer', name: 'Axa' } },
              { __typename: 'Gadget', covered: null, insurer: { __typename: 'Insurer', name: null } },
              { __typename: 'Gadget', covered: false, insurer: null },
            ],
          },
        },
      },
      {
        name: 'the key aliased in a named fragment',
        query: '{ gadgets { ...Cover } } fragment Cover on Gadget { id: serial isCovered: covered }',
        expected: { data: { gadgets: [{ id: 'SN-1', isCovered: true }, { id: null, isCovered: null }, { id: 'SN-3', isCovered: false }] } },
      },
    ],
    denial: {
      type: 'Gadget',
      field: 'name',
      rule: rule('nameOnlyWithSerial', { cache: 'strict', fragment: 'fragment GadgetSerial on Gadget { serial }' })((parent: { serial?: unknown }) => typeof parent.serial === 'string'),
      query: '{ gadgets { name } }',
      path: ['gadgets', 1, 'name'],
      at: { text: 'name' },
    },
  },
];

describe.each(SHAPES)('$name', (shape) => {
  let plain: FederationStack | undefined;
  let reading: FederationStack | undefined;
  let denied: FederationStack | undefined;

  beforeAll(async () => {
    // The three gateways start side by side; whatever started is stopped in afterAll, even if another failed.
    const [first, second, third] = await Promise.allSettled([
      startFederationStack({ subgraphs: shape.subgraphs, policy: allowAll(shape) }),
      startFederationStack({ subgraphs: shape.subgraphs, policy: readingParents(shape) }),
      startFederationStack({ subgraphs: shape.subgraphs, policy: denying(shape) }),
    ]);
    if (first.status === 'fulfilled') plain = first.value;
    if (second.status === 'fulfilled') reading = second.value;
    if (third.status === 'fulfilled') denied = third.value;
    for (const started of [first, second, third]) if (started.status === 'rejected') throw started.reason;
  });
  afterAll(async () => {
    await Promise.all([plain?.stop(), reading?.stop(), denied?.stop()]);
  });

  const run = async (stack: FederationStack | undefined, operation: Pick<Operation, 'query' | 'variables'>) => {
    if (stack === undefined) throw new Error('the stack did not start');
    const response = await stack.query(operation.query, operation.variables === undefined ? {} : { variables: operation.variables });
    return { status: response.status, body: response.body };
  };

  it('has a rule for every field under each policy, so that no answer differs by the fallback', () => {
    for (const stack of [plain, reading, denied]) {
      const coverage = stack?.logs.filter((line) => 'deniedByFallback' in line).map((line) => line['deniedByFallback']);
      expect(coverage).toStrictEqual([0]);
    }
  });

  it.each(shape.operations)('$name: answers as federation does, with every field allowed', async (operation) => {
    expect(await run(plain, operation)).toStrictEqual({ status: 200, body: operation.expected });
  });

  it.each(shape.operations)('$name: answers the same when every rule reads parent fields', async (operation) => {
    const [expected, actual] = await Promise.all([run(plain, operation), run(reading, operation)]);
    expect(expected.status).toBe(200);
    expect(actual).toStrictEqual({ status: 200, body: expected.body });
  });

  it(`denies ${shape.denial.type}.${shape.denial.field} on what its rule reads of the parent, at that one path`, async () => {
    const { query, path, at } = shape.denial;
    const [expected, actual] = await Promise.all([run(plain, { query }), run(denied, { query })]);
    expect(expected.status).toBe(200);
    // The field has a value where it is allowed: the denial is what nulls it.
    expect(valueAt(expected.body.data, path)).not.toBeNull();
    const denial = forbiddenAt(path, query, at.text, at.occurrence);
    expect(actual).toStrictEqual({ status: 200, body: { ...expected.body, data: nulledAt(expected.body.data, path), errors: [...(expected.body.errors ?? []), denial] } });
  });
});

describe('the federation test harness', () => {
  it('refuses fixture subgraphs that do not compose, with every composition error', async () => {
    // Two subgraphs that both resolve Clash.value without @shareable: composition must refuse them.
    const clashing = (name: string): FixtureSubgraph => ({
      name,
      typeDefs: parse(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
        type Clash @key(fields: "id") { id: ID! value: String }
        type Query { ${name}: Clash }
      `),
      resolvers: {},
    });
    await expect(startFederationStack({ subgraphs: [clashing('left'), clashing('right')], policy: { ruleTree: allow } })).rejects.toThrow(
      'the fixture subgraphs do not compose:\n  - [INVALID_FIELD_SHARING] Non-shareable field "Clash.value" is resolved from multiple subgraphs',
    );
  });
});
