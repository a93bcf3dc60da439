import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apiSchemaOf } from '../src/authz/accessMatrix.js';
import { supergraphFacts } from '../src/supergraph/supergraphFacts.js';
import { COMMITTED_SUPERGRAPH } from './harness.js';

describe('what the gateway reads from a supergraph, once per load', () => {
  const sdl = readFileSync(COMMITTED_SUPERGRAPH, 'utf8');
  const facts = supergraphFacts(apiSchemaOf(sdl), sdl);

  it('names the subgraphs from the join directives', () => {
    expect(facts.subgraphNames).toEqual(['accounts', 'inventory', 'products', 'reviews']);
  });

  it.each<[string, string, string | undefined]>([
    ['User', 'email', 'accounts'],
    ['Product', 'inStock', 'inventory'],
    ['Product', 'reviews', 'reviews'],
    ['Review', 'author', 'reviews'],
    ['Nothing', 'here', undefined],
  ])('knows that %s.%s is resolved by %s', (type, field, subgraph) => {
    expect(facts.owner(type, field)).toBe(subgraph);
  });

  it('reads the cost directives, which the API schema drops', () => {
    expect(facts.costModel.listSize('Product', 'reviews')).toMatchObject({ slicingArguments: ['first'] });
  });
});
