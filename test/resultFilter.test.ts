import { readFileSync } from 'node:fs';
import { getOperationAST, parse } from 'graphql';
import { allow, deny, type IRules } from 'graphql-shield';
import { describe, expect, it } from 'vitest';
import demoConfig from '../gateway.config.js';
import { costModel } from '../src/analysis/costModel.js';
import { coercedVariables, fragmentsOf } from '../src/analysis/graphqlSelections.js';
import { analyzeOperation } from '../src/analysis/operationAnalysis.js';
import { apiSchemaOf } from '../src/authz/accessMatrix.js';
import type { AuthzContext } from '../src/authz/authzContext.js';
import { checkOperation } from '../src/authz/checkOperation.js';
import { compilePolicy, type CompiledPolicy } from '../src/authz/compilePolicy.js';
import { filterResult } from '../src/authz/resultFilter.js';
import type { Principal } from '../src/auth/principal.js';
import { loadConfig } from '../src/config/index.js';
import { COMMITTED_SUPERGRAPH } from './harness.js';

// The result filter in process: the demo's schema, a real check of each operation, and by hand the data the gateway's
// result shaping would give for the rewritten operation (with the `__authz_` aliases the rewrite adds).

const supergraph = readFileSync(COMMITTED_SUPERGRAPH, 'utf8');
const schema = apiSchemaOf(supergraph);
const model = costModel(parse(supergraph));
const compile = (ruleTree: IRules) => compilePolicy(schema, supergraph, loadConfig({}, { module: { policy: { ruleTree, policies: { admin: allow, public: allow } } } }).policy);
const demoPolicy = compilePolicy(schema, supergraph, loadConfig({}, { module: demoConfig }).policy);

const USER_1: Principal = { kind: 'user', subject: '1', roles: [], scopes: [] };
const ANONYMOUS: Principal = { kind: 'anonymous' };

async function run(query: string, principal: Principal, data: Record<string, unknown>, policy: CompiledPolicy = demoPolicy) {
  const document = parse(query);
  const operation = getOperationAST(document);
  if (!operation) throw new Error('no operation');
  const variables = coercedVariables(schema, operation, {}) ?? {};
  const analysis = analyzeOperation({ schema, operation, fragments: fragmentsOf(document), variables, model, defaults: { listSize: 10 } });
  const authz: AuthzContext = {
    principal,
    requestId: 'unit',
    fetchEntity: async () => {
      throw new Error('no lookups here');
    },
    _shield: { cache: {} },
    onRuleError: () => undefined,
  };
  const check = await checkOperation({ schema, analysis, policy, context: authz });
  const result = await filterResult({ schema, analysis, check, policy, authz, data: structuredClone(data) });
  return { ...result, errors: result.errors.map((error) => ({ message: error.message, path: error.path, code: error.extensions['code'] })) };
}

describe('the result filter: what the check could not decide, decided on the gateway\'s result', () => {
  it('decides a guarded field on each object, from the field fetched under the gateway\'s alias, and never returns that alias', async () => {
    const result = await run('{ users { id name email } }', USER_1, {
      users: [
        { id: '1', name: 'Ada', email: 'ada@example.com', __authz_User__id: '1' },
        { id: '2', name: 'Alan', email: 'alan@example.com', __authz_User__id: '2' },
      ],
    });
    expect(result.data).toEqual({ users: [{ id: '1', name: 'Ada', email: 'ada@example.com' }, { id: '2', name: 'Alan', email: null }] });
    expect(JSON.stringify(result.data)).not.toContain('__authz');
    expect(result.errors).toEqual([{ message: 'Not authorised', path: ['users', 1, 'email'], code: 'FORBIDDEN' }]);
  });

  it('reads what a rule declares only from the gateway\'s alias: a client field of the same name does not count', async () => {
    // The object's own `id` says 1, but what the gateway fetched for the rule says 2: the rule sees 2, and denies.
    const result = await run('{ users { id email } }', USER_1, { users: [{ id: '1', email: 'x@example.com', __authz_User__id: '2' }] });
    expect(result.data).toEqual({ users: [{ id: '1', email: null }] });
  });

  it('lets a rule see a read that came back null as null, and leaves the client\'s object as it was', async () => {
    const result = await run('{ users { name email } }', USER_1, { users: [{ name: 'Ada', email: 'ada@example.com', __authz_User__id: null }] });
    expect(result.data).toEqual({ users: [{ name: 'Ada', email: null }] });
    expect(result.errors).toEqual([{ message: 'Not authorised', path: ['users', 0, 'email'], code: 'FORBIDDEN' }]);
  });

  it('answers a field denied before execution with its error at its path, in the client\'s order, the rest as the plan returned it', async () => {
    // The rewrite removed costPrice: the shaped result has no such key.
    const result = await run('{ product(upc: "1") { costPrice name } }', ANONYMOUS, { product: { name: 'Table' } });
    expect(JSON.stringify(result.data)).toBe('{"product":{"costPrice":null,"name":"Table"}}');
    expect(result.errors).toEqual([{ message: 'Not authorised', path: ['product', 'costPrice'], code: 'FORBIDDEN' }]);
  });

  it('propagates the null of a denied non-null field to its nearest nullable parent, with one error', async () => {
    const policy = compile({ Query: allow, User: { id: deny, name: allow } });
    const result = await run('{ users { id name } }', USER_1, { users: [{ name: 'Ada' }] }, policy);
    expect(result.data).toEqual({ users: [null] });
    expect(result.errors).toEqual([{ message: 'Not authorised', path: ['users', 0, 'id'], code: 'FORBIDDEN' }]);
  });

  it('keeps the client\'s aliases and shape where a guarded field is allowed', async () => {
    const result = await run('{ people: users { who: name mail: email } }', USER_1, { people: [{ who: 'Ada', mail: 'ada@example.com', __authz_User__id: '1' }] });
    expect(result).toEqual({ data: { people: [{ who: 'Ada', mail: 'ada@example.com' }] }, errors: [] });
  });
});
