import { readFileSync } from 'node:fs';
import { GraphQLError, parse, visit, type DocumentNode, type FieldNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import demoConfig from '../gateway.config.js';
import { apiSchemaOf } from '../src/authz/accessMatrix.js';
import type { AuthzContext } from '../src/authz/authzContext.js';
import type { OperationCheck } from '../src/authz/checkOperation.js';
import { compilePolicy } from '../src/authz/compilePolicy.js';
import { createResultFilter } from '../src/authz/resultFilter.js';
import type { Principal } from '../src/auth/principal.js';
import { loadConfig } from '../src/config/index.js';
import { COMMITTED_SUPERGRAPH } from './harness.js';

const supergraph = readFileSync(COMMITTED_SUPERGRAPH, 'utf8');
const schema = apiSchemaOf(supergraph);
const policy = compilePolicy(schema, supergraph, loadConfig({}, { module: demoConfig }).policy);
const filter = createResultFilter(schema, policy);

const authz = (principal: Principal): AuthzContext => ({
  principal,
  requestId: 'unit',
  fetchEntity: async () => {
    throw new Error('no lookups here');
  },
  _shield: { cache: {} },
  onRuleError: () => undefined,
});
const USER_1: Principal = { kind: 'user', subject: '1', roles: [], scopes: [] };

/** The field nodes of a document by their path of names, to build a check by hand. */
function fieldsOf(document: DocumentNode): Map<string, FieldNode> {
  const byPath = new Map<string, FieldNode>();
  const names: string[] = [];
  visit(document, {
    Field: {
      enter(node) {
        names.push(node.alias?.value ?? node.name.value);
        byPath.set(names.join('.'), node);
      },
      leave() {
        names.pop();
      },
    },
  });
  return byPath;
}

const emptyCheck = (): OperationCheck => ({ denied: new Map(), guarded: new Set(), parentFields: new Map(), abstractSelections: new Set() });
const FORBIDDEN = new GraphQLError('Not authorised', { extensions: { code: 'FORBIDDEN' } });

describe('the result filter: the client\'s document run over the gateway\'s result', () => {
  it('decides a guarded field on each object, from the parent field fetched under the gateway\'s alias, and never returns that alias', async () => {
    const document = parse('{ users { id name email } }');
    const check = emptyCheck();
    check.guarded.add(fieldsOf(document).get('users.email') as FieldNode);
    const data = {
      users: [
        { id: '1', name: 'Ada', email: 'ada@example.com', __authz_id: '1' },
        { id: '2', name: 'Alan', email: 'alan@example.com', __authz_id: '2' },
      ],
    };
    const result = await filter({ document, operationName: undefined, variables: undefined, data, check, authz: authz(USER_1) });
    expect(result.data).toEqual({ users: [{ id: '1', name: 'Ada', email: 'ada@example.com' }, { id: '2', name: 'Alan', email: null }] });
    expect(result.errors?.map((error) => [error.message, error.path, error.extensions['code']])).toEqual([['Not authorised', ['users', 1, 'email'], 'FORBIDDEN']]);
  });

  it('reads the parent only from the gateway\'s alias: a client field of the same name does not count', async () => {
    // The object's own `id` says 1, but what the gateway fetched for the rule says 2: the rule sees 2, and denies.
    const document = parse('{ users { id email } }');
    const check = emptyCheck();
    check.guarded.add(fieldsOf(document).get('users.email') as FieldNode);
    const result = await filter({ document, operationName: undefined, variables: undefined, data: { users: [{ id: '1', email: 'x@example.com', __authz_id: '2' }] }, check, authz: authz(USER_1) });
    expect(result.data).toEqual({ users: [{ id: '1', email: null }] });
  });

  it('answers a field denied before execution with its error at its path, the rest as the plan returned it', async () => {
    const document = parse('{ product(upc: "1") { name costPrice } }');
    const check = emptyCheck();
    check.denied.set(fieldsOf(document).get('product.costPrice') as FieldNode, FORBIDDEN);
    const result = await filter({ document, operationName: undefined, variables: undefined, data: { product: { name: 'Table' } }, check, authz: authz(USER_1) });
    expect(result.data).toEqual({ product: { name: 'Table', costPrice: null } });
    expect(result.errors?.map((error) => [error.path, error.extensions['code']])).toEqual([[['product', 'costPrice'], 'FORBIDDEN']]);
  });

  it('propagates the null of a denied non-null field to its nullable parent, as GraphQL requires', async () => {
    const document = parse('{ users { id name } }');
    const check = emptyCheck();
    check.denied.set(fieldsOf(document).get('users.id') as FieldNode, FORBIDDEN);
    const result = await filter({ document, operationName: undefined, variables: undefined, data: { users: [{ name: 'Ada' }] }, check, authz: authz(USER_1) });
    expect(result.data).toEqual({ users: [null] });
    expect(result.errors?.[0]?.path).toEqual(['users', 0, 'id']);
  });

  it('keeps the client\'s aliases and shape, and adds no error when nothing is denied', async () => {
    const document = parse('{ best: topProducts(first: 1) { title: name } }');
    const result = await filter({ document, operationName: undefined, variables: undefined, data: { best: [{ title: 'Table' }] }, check: emptyCheck(), authz: authz(USER_1) });
    expect(result).toEqual({ data: { best: [{ title: 'Table' }] } });
  });
});
