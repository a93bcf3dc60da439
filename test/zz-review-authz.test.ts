import { afterAll, beforeAll, describe, it } from 'vitest';
import { startStack, type Stack } from './harness.js';

describe('review probes', () => {
  let stack: Stack;
  beforeAll(async () => { stack = await startStack(); });
  afterAll(() => stack.stop());
  const show = (label: string, r: unknown) => console.log(`### ${label}\n${JSON.stringify(r)}`);

  it('probes', async () => {
    const user = await stack.as({ subject: '2' });
    show('baseline', await stack.query('{ user(id: "1") { name email } }', { headers: user }));
    show('emptyOpName query', await stack.query('{ user(id: "1") { name email birthday } product(upc:"1"){costPrice} }', { headers: user, operationName: '' }));
    show('emptyOpName named', await stack.query('query Q { user(id: "1") { name email } }', { headers: user, operationName: '' }));
    const before = stack.subgraphs.products.counter.count('Mutation.createProduct');
    show('emptyOpName mutation anon', await stack.query('mutation { createProduct(upc: "zz1", name: "Pwned", price: 1) { upc costPrice } }', { operationName: '' }));
    show('createProduct count delta', stack.subgraphs.products.counter.count('Mutation.createProduct') - before);
    show('emptyOpName cost', await stack.query('{ topProducts(first: 100000) { name reviews { author { reviews { body } } } } }', { operationName: '' }));
    show('alias __authz_id username', await stack.query('{ user(id: "1") { __authz_id: username email } }', { headers: user }));
    show('alias __authz_id in inline frag', await stack.query('{ user(id: "1") { email ... on User { __authz_id: name } } }', { headers: user }));
    show('skip null var', await stack.query('query ($s: Boolean = false) { topProducts @skip(if: $s) { name } }', { variables: { s: null } }));
    show('arg null var', await stack.query('query ($id: ID = "1") { user(id: $id) { name email } }', { headers: user, variables: { id: null } }));
    show('first -1', await stack.query('{ topProducts(first: -1) { name } }', {}));
    show('first 0', await stack.query('{ topProducts(first: 0) { name } }', {}));
    show('introspection deep', (await stack.query('{ __schema { types { fields { type { fields { type { fields { type { fields { type { fields { type { fields { name } } } } } } } } } } } } }', {})).status);
  });
});
