import { readFileSync } from 'node:fs';
import {
  getOperationAST,
  Kind,
  parse,
  print,
  validate,
  type DocumentNode,
  type FieldNode,
  type GraphQLResolveInfo,
  type SelectionSetNode,
} from 'graphql';
import { allow, and, rule, type IRules } from 'graphql-shield';
import { describe, expect, it } from 'vitest';
import { costModel } from '../src/analysis/costModel.js';
import { coercedVariables, fragmentsOf } from '../src/analysis/graphqlSelections.js';
import { analyzeOperation } from '../src/analysis/operationAnalysis.js';
import type { Principal } from '../src/auth/principal.js';
import { apiSchemaOf } from '../src/authz/accessMatrix.js';
import type { AuthzContext } from '../src/authz/authzContext.js';
import { checkOperation, type OperationCheck } from '../src/authz/checkOperation.js';
import { compilePolicy, type CompiledPolicy } from '../src/authz/compilePolicy.js';
import { rewriteDocument } from '../src/authz/rewriteDocument.js';
import { ownedBy } from '../src/authz/rules.js';
import type { ShieldRule } from '../src/authz/ruleEvaluation.js';
import { loadConfig } from '../src/config/index.js';
import demoConfig from '../gateway.config.js';
import { COMMITTED_SUPERGRAPH } from './harness.js';

// The check before execution and the rewrite it drives, in process: the demo's supergraph and policy, no gateway and
// no subgraph. What a client then gets (nulls and FORBIDDEN errors at paths) is tested through HTTP in
// authorization.test.ts.

const supergraph = readFileSync(COMMITTED_SUPERGRAPH, 'utf8');
const schema = apiSchemaOf(supergraph);
const model = costModel(parse(supergraph));
const demoPolicy = compilePolicy(schema, supergraph, loadConfig({}, { module: demoConfig }).policy);

const anonymous: Principal = { kind: 'anonymous' };
const user = (subject: string, roles: string[] = []): Principal => ({ kind: 'user', subject, roles, scopes: [] });
const admin = user('9', ['admin']);
/** Review id → author id, for the demo's `deleteReview` rule, which looks the review's author up. */
const REVIEWS: Record<string, string> = { r1: 'u1' };

/**
 * A graphql-shield cache that remembers nothing, so that the tests that count evaluations see every one: shield
 * stores a result and reads it back once (`writeToCache`); the read takes it out again.
 */
function forgetfulCache(): Record<string, unknown> {
  const pending = new Map<string | symbol, unknown>();
  return new Proxy({}, {
    get: (_target, key) => {
      const value = pending.get(key);
      pending.delete(key);
      return value;
    },
    set: (_target, key, value) => {
      pending.set(key, value);
      return true;
    },
  });
}

function authzContext(principal: Principal): AuthzContext & { lookups: string[]; ruleErrors: unknown[] } {
  const lookups: string[] = [];
  const ruleErrors: unknown[] = [];
  return {
    principal,
    requestId: 'unit',
    fetchEntity: async ({ typename, key }) => {
      lookups.push(`${typename}:${String(key['id'])}`);
      const author = REVIEWS[String(key['id'])];
      return author === undefined ? null : { author: { id: author } };
    },
    _shield: { cache: forgetfulCache() },
    onRuleError: (error) => ruleErrors.push(error),
    lookups,
    ruleErrors,
  };
}

/** Parses, validates against the demo schema (so that no case tests an invalid document), analyses and checks. */
async function check(query: string, principal: Principal, policy: CompiledPolicy = demoPolicy, variables: Record<string, unknown> = {}) {
  const document = parse(query);
  expect(validate(schema, document)).toEqual([]);
  const operation = getOperationAST(document);
  if (!operation) throw new Error('no operation');
  const fragments = fragmentsOf(document);
  const coerced = coercedVariables(schema, operation, variables);
  if (coerced === undefined) throw new Error('variables do not coerce');
  const analysis = analyzeOperation({ schema, operation, fragments, variables: coerced, model, defaults: { listSize: 10 } });
  const context = authzContext(principal);
  const result = await checkOperation({ schema, analysis, policy, context });
  return { document, result, context };
}

/**
 * A name for every field node and selection set of a document, by where it is written: `query.user.email`,
 * `query.user` (the user field's selection set, named apart from the field), `fragment P.costPrice`, `query.user...on User`
 * (an inline fragment's).
 */
function labels(document: DocumentNode): { of: Map<object, string>; field(label: string): FieldNode; set(label: string): SelectionSetNode } {
  const of = new Map<object, string>();
  // Fields and selection sets are named apart: `query.user` is both the field and the set it selects.
  const fields = new Map<string, FieldNode>();
  const sets = new Map<string, SelectionSetNode>();
  // A response key written twice (execution merges them) is told apart by a number: `query.product#2`.
  const name = <T extends object>(byLabel: Map<string, T>, node: T, written: string): string => {
    let label = written;
    for (let n = 2; byLabel.has(label); n += 1) label = `${written}#${n}`;
    of.set(node, label);
    byLabel.set(label, node);
    return label;
  };
  const walk = (selectionSet: SelectionSetNode, written: string): void => {
    const at = name(sets, selectionSet, written);
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const label = name(fields, selection, `${at}.${selection.alias?.value ?? selection.name.value}`);
        if (selection.selectionSet) walk(selection.selectionSet, label);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, `${at}...on ${selection.typeCondition?.name.value ?? '*'}`);
      }
    }
  };
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION) walk(definition.selectionSet, definition.operation);
    if (definition.kind === Kind.FRAGMENT_DEFINITION) walk(definition.selectionSet, `fragment ${definition.name.value}`);
  }
  const lookup = <T>(byLabel: Map<string, T>, label: string): T => {
    const node = byLabel.get(label);
    if (node === undefined) throw new Error(`no node labelled ${label}; known: ${[...byLabel.keys()].join(', ')}`);
    return node;
  };
  return { of, field: (label) => lookup(fields, label), set: (label) => lookup(sets, label) };
}

/** A check as plain data, by label: what a table of cases can compare with `toEqual`. */
function summary(document: DocumentNode, result: OperationCheck) {
  const { of } = labels(document);
  const label = (node: object) => of.get(node) ?? '(a node not in the document)';
  return {
    denied: Object.fromEntries([...result.denied].flatMap(([field, error]) => field.nodes.map((node) => [label(node), `${String(error.extensions['code'])}: ${error.message}`]))),
    guarded: [...new Set([...result.guarded].flatMap((field) => field.nodes.map(label)))],
    // Each read by name, `... on Type` for one asked under a type condition.
    reads: Object.fromEntries(
      [...result.reads].map(([set, byType]) => [
        label(set),
        [...byType].flatMap(([type, { direct, wrapped }]) => [...[...direct].map((read) => read.name.value), ...[...wrapped].map((read) => `... on ${type} ${read.name.value}`)]),
      ]),
    ),
    typenames: [...result.typenames].map(label),
  };
}

const FORBIDDEN = 'FORBIDDEN: Not authorised';
const nothing = { denied: {}, guarded: [], reads: {}, typenames: [] };

describe('checkOperation with the demo policy', () => {
  const ME_AND_EMAIL = '{ me { id } user(id: "1") { name email } }';

  it('denies `me` to an anonymous caller (@authenticated) and guards `email` (an ownership rule), asking for the user\'s id', async () => {
    const { document, result } = await check(ME_AND_EMAIL, anonymous);
    const nodes = labels(document);
    expect([...result.denied.keys()].flatMap((field) => field.nodes)).toEqual([nodes.field('query.me')]);
    expect([...result.denied.values()][0]?.extensions['code']).toBe('FORBIDDEN');
    expect([...result.removed]).toEqual([nodes.field('query.me')]);
    expect([...result.guarded].map((field) => `${field.parentType.name}.${field.fieldName}`)).toEqual(['User.email']);
    expect([...result.reads].map(([set, byType]) => [set, [...byType].map(([type, { direct, wrapped }]) => [type, [...direct].map(print), [...wrapped].map(print)])])).toEqual([[nodes.set('query.user'), [['User', ['id'], []]]]]);
    expect(result.typenames.size).toBe(0);
  });

  it.each<[string, Principal, string, ReturnType<typeof summary>]>([
    ['anonymous: me denied, email guarded', anonymous, ME_AND_EMAIL, { ...nothing, denied: { 'query.me': FORBIDDEN }, guarded: ['query.user.email'], reads: { 'query.user': ['id'] } }],
    ['a user: me allowed, email still guarded (whose it is shows only in the data)', user('1'), ME_AND_EMAIL, { ...nothing, guarded: ['query.user.email'], reads: { 'query.user': ['id'] } }],
    ['an admin: everything decided at once', admin, ME_AND_EMAIL, nothing],
    [
      'anonymous: costPrice (@policy admin) denied, and a guarded field deep in a list',
      anonymous,
      '{ topProducts { name costPrice reviews { author { username birthday } } } }',
      { ...nothing, denied: { 'query.topProducts.costPrice': FORBIDDEN }, guarded: ['query.topProducts.reviews.author.birthday'], reads: { 'query.topProducts.reviews.author': ['id'] } },
    ],
    [
      'a field skipped with @skip is not checked',
      anonymous,
      '{ me @skip(if: true) { id } user(id: "1") { name } }',
      nothing,
    ],
    [
      'a guarded field in an inline fragment gets its parent fields in the inline fragment',
      anonymous,
      '{ user(id: "1") { name ... on User { email } } }',
      { ...nothing, guarded: ['query.user...on User.email'], reads: { 'query.user...on User': ['id'] } },
    ],
    [
      'guarded fields in a named fragment get their parent fields in the fragment, once',
      user('1'),
      'query ($id: ID! = "1") { user(id: $id) { ...Private } } fragment Private on User { email birthday }',
      { ...nothing, guarded: ['fragment Private.email', 'fragment Private.birthday'], reads: { 'fragment Private': ['id'] } },
    ],
    [
      'me written twice under one response key: one field, both nodes denied',
      anonymous,
      '{ me { id } me { name } }',
      { ...nothing, denied: { 'query.me': FORBIDDEN, 'query.me#2': FORBIDDEN } },
    ],
    [
      'two aliases of me are two fields, each denied',
      anonymous,
      '{ a: me { id } b: me { name } }',
      { ...nothing, denied: { 'query.a': FORBIDDEN, 'query.b': FORBIDDEN } },
    ],
    ['__typename is left to the introspection setting', anonymous, '{ __typename user(id: "1") { __typename name } }', nothing],
    ['anonymous: createReview (@authenticated) denied', anonymous, 'mutation { createReview(upc: "1", body: "ok", rating: 5) { id } }', { ...nothing, denied: { 'mutation.createReview': FORBIDDEN } }],
    ['its author may delete a review', user('u1'), 'mutation { deleteReview(id: "r1") }', nothing],
    ['another user may not delete it', user('u2'), 'mutation { deleteReview(id: "r1") }', { ...nothing, denied: { 'mutation.deleteReview': FORBIDDEN } }],
    ['an admin may delete it', admin, 'mutation { deleteReview(id: "r1") }', nothing],
    ['a review that does not exist: the policy\'s own NOT_FOUND', user('u1'), 'mutation { deleteReview(id: "r404") }', { ...nothing, denied: { 'mutation.deleteReview': 'NOT_FOUND: No review with this id' } }],
  ])('%s', async (_case, principal, query, expected) => {
    const { document, result } = await check(query, principal);
    expect(summary(document, result)).toEqual(expected);
  });

  it('looks a review up only for a caller the cheaper rule did not already allow', async () => {
    expect((await check('mutation { deleteReview(id: "r1") }', anonymous)).context.lookups).toEqual([]);
    expect((await check('mutation { deleteReview(id: "r1") }', user('u1'))).context.lookups).toEqual(['Review:r1']);
  });

  it('reads variables as execution does', async () => {
    const query = 'query ($skip: Boolean!) { me @skip(if: $skip) { id } }';
    const skipped = await check(query, anonymous, demoPolicy, { skip: true });
    expect(summary(skipped.document, skipped.result)).toEqual(nothing);
    const kept = await check(query, anonymous, demoPolicy, { skip: false });
    expect(summary(kept.document, kept.result)).toEqual({ ...nothing, denied: { 'query.me': FORBIDDEN } });
  });
});

describe('checkOperation: how often rules run', () => {
  /**
   * A policy for the demo schema whose rules record each evaluation as `Type.field@path` (contextual, so that they are
   * decided before execution; the context's cache remembers nothing, so that shield's own cache hides no evaluation);
   * the `guarded` fields also need an ownership rule, undecided before execution.
   */
  function recordingPolicy(decide: (coordinate: string) => boolean, guarded: string[] = []) {
    const calls: string[] = [];
    const recorded: ShieldRule = rule('recorded', { cache: 'contextual' })((_parent, _args, _ctx, info: GraphQLResolveInfo) => {
      const coordinate = `${info.parentType.name}.${info.fieldName}`;
      calls.push(`${coordinate}@${pathOf(info.path)}`);
      return decide(coordinate);
    });
    const ruleTree: IRules = Object.fromEntries(
      ['Query', 'Mutation', 'User', 'Product', 'Review'].map((type) => [
        type,
        { '*': recorded, ...Object.fromEntries(guarded.filter((field) => field.startsWith(`${type}.`)).map((field) => [field.slice(type.length + 1), and(recorded, ownedBy('id'))])) },
      ]),
    );
    const policy = compilePolicy(schema, supergraph, loadConfig({}, { module: { policy: { ruleTree, policies: { admin: allow } } } }).policy);
    return { policy, calls };
  }
  const pathOf = (path: GraphQLResolveInfo['path'] | undefined): string => (path === undefined ? '' : `${pathOf(path.prev)}${path.prev === undefined ? '' : '.'}${path.key}`);
  const costPriceDenied = (coordinate: string) => coordinate !== 'Product.costPrice';

  it.each<[string, string, string[]]>([
    ['spread twice in one selection set', '{ product(upc: "1") { ...P ...P } } fragment P on Product { costPrice }', ['product.costPrice']],
    ['spread in two selections of one response key, which execution merges', '{ product(upc: "1") { ...P } product(upc: "1") { ...P } } fragment P on Product { costPrice }', ['product.costPrice']],
    ['spread at two paths: decided at each, for its own path', '{ a: product(upc: "1") { ...P } b: product(upc: "2") { ...P } } fragment P on Product { costPrice }', ['a.costPrice', 'b.costPrice']],
  ])('decides a field of a fragment %s, and denies its one node', async (_case, query, evaluatedAt) => {
    const { policy, calls } = recordingPolicy(costPriceDenied);
    const { document, result } = await check(query, admin, policy);
    expect(calls.filter((call) => call.startsWith('Product.costPrice@')).map((call) => call.slice('Product.costPrice@'.length))).toEqual(evaluatedAt);
    expect([...result.removed]).toEqual([labels(document).field('fragment P.costPrice')]);
  });

  it('decides what a fragment selects below its fields once, however many paths spread it: the selection is shared', async () => {
    const { policy, calls } = recordingPolicy((coordinate) => coordinate !== 'Review.rating');
    const { document, result } = await check(
      '{ a: product(upc: "1") { ...P } b: product(upc: "2") { ...P } } fragment P on Product { reviews { body rating } }',
      admin,
      policy,
    );
    expect(calls.filter((call) => !call.startsWith('Query.'))).toEqual([
      'Product.reviews@a.reviews',
      'Review.body@a.reviews.body',
      'Review.rating@a.reviews.rating',
      'Product.reviews@b.reviews',
    ]);
    expect([...result.removed]).toEqual([labels(document).field('fragment P.reviews.rating')]);
  });

  it('evaluates no field under a denied one: they will not run', async () => {
    const { policy, calls } = recordingPolicy((coordinate) => coordinate !== 'Query.me');
    const { document, result } = await check('{ me { id name reviews { body product { name } } } user(id: "1") { id } }', user('1'), policy);
    expect(calls).toEqual(['Query.me@me', 'Query.user@user', 'User.id@user.id']);
    expect(summary(document, result).denied).toEqual({ 'query.me': FORBIDDEN });
  });

  it('evaluates the fields under an allowed one, each once per path', async () => {
    const { policy, calls } = recordingPolicy(() => true);
    await check('{ topProducts { name reviews { body } } }', user('1'), policy);
    expect(calls).toEqual(['Query.topProducts@topProducts', 'Product.name@topProducts.name', 'Product.reviews@topProducts.reviews', 'Review.body@topProducts.reviews.body']);
  });

  it('checks the fields under a guarded field, as they may run', async () => {
    const { policy, calls } = recordingPolicy(() => true, ['User.reviews']);
    const { document, result } = await check('{ user(id: "1") { reviews { body } } }', user('1'), policy);
    expect(summary(document, result)).toEqual({ ...nothing, guarded: ['query.user.reviews'], reads: { 'query.user': ['id'] } });
    expect(calls).toEqual(['Query.user@user', 'User.reviews@user.reviews', 'Review.body@user.reviews.body']);
  });
});

describe('rewriteDocument', () => {
  /** The parts of an OperationCheck the rewrite reads, built by hand from labels. */
  function handMade(document: DocumentNode, spec: { removed?: string[]; reads?: Record<string, Record<string, string[]>>; typenames?: string[] }): OperationCheck {
    const nodes = labels(document);
    const field = (name: string): FieldNode => ({ kind: Kind.FIELD, name: { kind: Kind.NAME, value: name } });
    // `... on Type field` in a spec asks for it under a type condition; a bare name, directly.
    const typeReads = (names: string[]) => ({
      direct: new Set(names.filter((name) => !name.startsWith('... on ')).map(field)),
      wrapped: new Set(names.filter((name) => name.startsWith('... on ')).map((name) => field(name.split(' ').at(-1) ?? ''))),
    });
    return {
      denied: new Map(),
      removed: new Set((spec.removed ?? []).map((label) => nodes.field(label))),
      guarded: new Set(),
      reads: new Map(Object.entries(spec.reads ?? {}).map(([label, byType]) => [nodes.set(label), new Map(Object.entries(byType).map(([type, names]) => [type, typeReads(names)]))])),
      typenames: new Set((spec.typenames ?? []).map((label) => nodes.set(label))),
      visit: new Set(),
    };
  }

  it.each<[string, string, Parameters<typeof handMade>[1], string, string?]>([
    ['changes nothing when nothing is denied or guarded', '{ me { id } user(id: "1") { name } }', {}, '{ me { id } user(id: "1") { name } }'],
    ['removes a denied field and what it selects', '{ me { id reviews { body } } user(id: "1") { name } }', { removed: ['query.me'] }, '{ user(id: "1") { name } }'],
    ['removes a denied leaf', '{ topProducts { name costPrice price } }', { removed: ['query.topProducts.costPrice'] }, '{ topProducts { name price } }'],
    [
      'adds what a rule reads under an alias of the type whose rule reads it, and its shadow in the shaping document',
      '{ user(id: "1") { name email } }',
      { reads: { 'query.user': { User: ['id'] } } },
      '{ user(id: "1") { name email __authz_User__id: id } }',
      '{ user(id: "1") { name email __authz_User__id: authz__id } }',
    ],
    [
      'adds reads at each level that asks, and nowhere else',
      '{ topProducts { name reviews { body author { username birthday } } } }',
      { reads: { 'query.topProducts.reviews.author': { User: ['id'] }, 'query.topProducts.reviews': { Review: ['id', 'rating'] } } },
      '{ topProducts { name reviews { body author { username birthday __authz_User__id: id } __authz_Review__id: id __authz_Review__rating: rating } } }',
    ],
    [
      'adds reads inside a named fragment when the guarded field is written there',
      '{ user(id: "1") { ...Private } } fragment Private on User { email }',
      { reads: { 'fragment Private': { User: ['id'] } } },
      '{ user(id: "1") { ...Private } } fragment Private on User { email __authz_User__id: id }',
    ],
    [
      'adds reads of several object types to one abstract selection, each under its own type condition, and __typename',
      '{ search(text: "a") { ... on User { email } ... on Product { costPrice } } }',
      { reads: { 'query.search': { User: ['... on User id'], Product: ['... on Product upc'] } }, typenames: ['query.search'] },
      '{ search(text: "a") { ... on User { email } ... on Product { costPrice } ... on User { __authz_User__id: id } ... on Product { __authz_Product__upc: upc } __typename } }',
    ],
    [
      'adds no __typename where the client selects it',
      '{ search(text: "a") { __typename ... on User { name } } }',
      { typenames: ['query.search'] },
      '{ search(text: "a") { __typename ... on User { name } } }',
    ],
    [
      'keeps what a read selects and its arguments',
      '{ user(id: "1") { name } }',
      { reads: { 'query.user': { User: ['reviews'] } } },
      '{ user(id: "1") { name __authz_User__reviews: reviews } }',
    ],
    ['drops a variable only a removed field used', 'query ($n: Int, $id: ID!) { me { reviews(first: $n) { body } } user(id: $id) { name } }', { removed: ['query.me'] }, 'query ($id: ID!) { user(id: $id) { name } }'],
    ['drops a fragment only a removed field spread, and what it alone spread', '{ me { ...F } user(id: "1") { ...G } } fragment F on User { ...H } fragment H on User { id } fragment G on User { name }', { removed: ['query.me'] }, '{ user(id: "1") { ...G } } fragment G on User { name }'],
    ['selects __typename in a selection set left empty', '{ me { email } user(id: "1") { name } }', { removed: ['query.me.email'] }, '{ me { __typename } user(id: "1") { name } }'],
    ['selects __typename in a root left empty', '{ me { id } }', { removed: ['query.me'] }, '{ __typename }'],
    ['selects __typename in a fragment left empty, and keeps its spread', '{ product(upc: "1") { name ...Secret } } fragment Secret on Product { costPrice }', { removed: ['fragment Secret.costPrice'] }, '{ product(upc: "1") { name ...Secret } } fragment Secret on Product { __typename }'],
    [
      'keeps a guarded field\'s reads where its sibling was removed',
      '{ user(id: "1") { email birthday } }',
      { removed: ['query.user.birthday'], reads: { 'query.user': { User: ['id'] } } },
      '{ user(id: "1") { email __authz_User__id: id } }',
    ],
  ])('%s', (_case, query, spec, planned, shaping) => {
    const document = parse(query);
    const before = print(document);
    const rewritten = rewriteDocument(document, handMade(document, spec));
    expect(print(rewritten.planned)).toBe(print(parse(planned)));
    if (shaping !== undefined) expect(print(rewritten.shaping)).toBe(print(parse(shaping)));
    expect(print(document)).toBe(before); // the client's document is left as it was
  });

  it('rewrites what checkOperation decided for an anonymous caller', async () => {
    const { document, result } = await check('{ me { id } user(id: "1") { name email } }', anonymous);
    expect(print(rewriteDocument(document, result).planned)).toBe(print(parse('{ user(id: "1") { name email __authz_User__id: id } }')));
  });

  it('rewrites a fragment spread at two paths once, removing its denied field everywhere', async () => {
    const { document, result } = await check('{ topProducts { ...P } product(upc: "1") { ...P } } fragment P on Product { name costPrice }', anonymous);
    expect(print(rewriteDocument(document, result).planned)).toBe(print(parse('{ topProducts { ...P } product(upc: "1") { ...P } } fragment P on Product { name }')));
  });
});
