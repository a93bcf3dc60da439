import { allow, rule } from 'graphql-shield';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFederationStack, type FederationStack } from '../federation/federationStack.js';
import { interfacesGraph } from '../federation/fixtures/interfaces/index.js';

// `__typename @skip(if: true)` (or `@include(if: false)`) on a field of abstract type with something to decide below.
// The check sees no `__typename` selected (the analysis honours @skip) and asks the rewrite for one; the rewrite
// (rewriteDocument.ts `isTypename`, which ignores directives) sees the client's skipped `__typename` and adds none.
// The shaped objects then have no `__typename`, and the result filter (resultFilter.ts `complete`) nulls every
// object of the list with FORBIDDEN, logging one error with a stack trace per object.

const onlyCar1 = rule('onlyCar1', { cache: 'strict', fragment: 'fragment CarId on Car { id }' })((parent: { id?: unknown }) => parent.id === 'car-1');

describe('a skipped __typename on an abstract field', () => {
  let stack: FederationStack;
  beforeAll(async () => {
    stack = await startFederationStack({
      subgraphs: interfacesGraph,
      policy: { ruleTree: { Query: allow, Car: { '*': allow, model: onlyCar1 }, Toaster: allow, Kettle: allow, Manual: allow } },
    });
  });
  afterAll(async () => stack?.stop());

  it('answers as if the skipped __typename were not there', async () => {
    const plain = await stack.query('{ nodes { ... on Car { model } } }');
    expect(plain.body).toMatchObject({ data: { nodes: [{ model: 'Roadster' }, {}, {}, { model: null }] } });
    expect(plain.body.errors?.map((error) => error.path)).toEqual([['nodes', 3, 'model']]);

    const skipped = await stack.query('query ($s: Boolean!) { nodes { __typename @skip(if: $s) ... on Car { model } } }', { variables: { s: true } });
    expect(skipped.body.data).toEqual(plain.body.data);
    expect(skipped.body.errors?.map((error) => error.path)).toEqual([['nodes', 3, 'model']]);
    expect(stack.logs.filter((line) => line['level'] === 50)).toEqual([]);
  });
});
