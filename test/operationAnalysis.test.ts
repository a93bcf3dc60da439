import { readFileSync } from 'node:fs';
import { getOperationAST, GraphQLError, parse, specifiedRules, validate, type DocumentNode } from 'graphql';
import depthLimit from 'graphql-depth-limit';
import { describe, expect, it } from 'vitest';
import { costModel } from '../src/analysis/costModel.js';
import { documentFacts } from '../src/analysis/documentFacts.js';
import { analyzeOperation } from '../src/analysis/operationAnalysis.js';
import { createRequestAnalyzer } from '../src/analysis/requestAnalyzer.js';
import { apiSchemaOf } from '../src/authz/accessMatrix.js';
import { coercedVariables, fragmentsOf } from '../src/analysis/graphqlSelections.js';
import { documentLimitsRule } from '../src/limits/documentLimits.js';
import { supportedOperationsRule } from '../src/limits/supportedOperations.js';
import { selectionPairs } from '../src/http/documentGate.js';
import { COMMITTED_SUPERGRAPH } from './harness.js';
import { TEST_QUERY } from './fixtures/testQuery.js';

const supergraph = readFileSync(COMMITTED_SUPERGRAPH, 'utf8');
const schema = apiSchemaOf(supergraph);
const model = costModel(parse(supergraph));

function analyze(query: string, variables: Record<string, unknown> = {}) {
  const document = parse(query);
  const operation = getOperationAST(document);
  if (!operation) throw new Error('no operation');
  // As execution sees them: coerced, defaults applied.
  const coerced = coercedVariables(schema, operation, variables);
  if (coerced === undefined) throw new Error('variables do not coerce');
  return analyzeOperation({ schema, operation, fragments: fragmentsOf(document), variables: coerced, model, defaults: { listSize: 10 } });
}

const DEEP_LEAF = 'topProducts { reviews { author { reviews { product { reviews { author { reviews { product { reviews { author { id } } } } } } } } } } }';

/** `query Bomb { ...Fn }` where F0 selects `leaf` and each Fi spreads F(i-1) twice: 2^n expansions, under 1 KB. */
function bomb(levels: number, leaf: string, spread = (previous: string) => `...${previous} ...${previous}`): string {
  let text = `query Bomb { ...F${levels} } fragment F0 on Query { ${leaf} }`;
  for (let level = 1; level <= levels; level += 1) text += ` fragment F${level} on Query { ${spread(`F${level - 1}`)} }`;
  return text;
}

/** The same doubling below a list field, through aliases that execution cannot merge: the answer itself is 2^n. */
function aliasBomb(levels: number): string {
  let text = `query { topProducts { ...P${levels} } } fragment P0 on Product { name }`;
  for (let level = 1; level <= levels; level += 1) text += ` fragment P${level} on Product { a: reviews { product { ...P${level - 1} } } b: reviews { product { ...P${level - 1} } } }`;
  return text;
}

const bombs: [string, string][] = [
  ['an 11-level selection at the leaf', bomb(20, DEEP_LEAF)],
  ['a costed leaf', bomb(20, 'topProducts { name }')],
  ['an unknown field at the leaf', bomb(20, 'nope')],
  ['__typename at the leaf (valid, costs nothing)', bomb(20, '__typename')],
  ['spreads inside inline fragments', bomb(20, 'topProducts { name }', (previous) => `... on Query { ...${previous} } ... @include(if: true) { ...${previous} }`)],
  ['variables inside the bomb', `query Bomb($n: Int = 3, $on: Boolean = true) ${bomb(20, 'topProducts(first: $n) @include(if: $on) { name }').slice('query Bomb '.length)}`],
  ['aliases that cannot merge', aliasBomb(20)],
];

describe('documentFacts: one pass over the document, whatever its fragments multiply to', () => {
  it.each(bombs)('counts %s in steps linear in the document', (_case, query) => {
    const document = parse(query);
    const facts = documentFacts(document);
    // Each selection is looked at a bounded number of times (written counts, depth, root fields): 3 passes at most.
    expect(facts.steps).toBeLessThanOrEqual(3 * selectionCount(document));
    expect(facts.operations.size).toBe(1);
  });

  // graphql-depth-limit is the reference for depth: the same documents, its numbers, on documents it can afford.
  it.each<[string, string]>([
    ['a flat query', '{ topProducts { name } }'],
    ['nested lists', '{ topProducts { reviews { author { name } } } }'],
    ['depth through fragments', 'fragment A on User { reviews { author { ...B } } } fragment B on User { reviews { body } } { user(id: "1") { ...A } }'],
    ['inline fragments', '{ topProducts { ... on Product { reviews { ... on Review { author { id } } } } } }'],
    ['introspection is not entered', '{ __schema { types { fields { type { name } } } } topProducts { name } }'],
    ['__typename at depth', '{ topProducts { reviews { __typename } } }'],
    ['two operations', 'query A { topProducts { name } } query B { me { reviews { product { name } } } }'],
    ['a small doubling', bomb(4, 'topProducts { reviews { author { name } } }')],
    ['the benchmark query', TEST_QUERY],
  ])('gives the depth graphql-depth-limit gives for %s', (_case, query) => {
    const document = parse(query);
    let reference: Record<string, number> = {};
    validate(schema, document, [depthLimit(1_000, {}, (depths: Record<string, number>) => (reference = depths))]);
    const ours = Object.fromEntries([...documentFacts(document).operations].map(([operation, facts]) => [operation.name?.value ?? '', facts.depth]));
    expect(ours).toEqual(reference);
  });

  it.each<[string, string, number, number]>([
    ['written aliases', '{ a: topProducts { n: name } b: topProducts { name } }', 3, 0],
    ['an alias in a fragment spread twice counts once', 'fragment F on Product { n: name } { topProducts { ...F ...F } }', 1, 0],
    ['directives everywhere', 'query Q($v: Boolean = true @deprecated) @deprecated { topProducts @include(if: $v) { ...F @skip(if: false) ... @include(if: true) { name } } } fragment F on Product @deprecated { upc }', 0, 6],
  ])('counts %s', (_case, query, aliases, directives) => {
    const facts = documentFacts(parse(query));
    expect([facts.aliases, facts.directives]).toEqual([aliases, directives]);
  });
});

describe('the document limits and the operations served, as validation rules', () => {
  const rules = [...specifiedRules, supportedOperationsRule, documentLimitsRule({ maxDepth: 10, maxAliases: 15, maxRootFields: 10, maxDirectives: 20 }, true)];
  const codes = (query: string) => validate(schema, parse(query), rules).map((error) => error.extensions['validationErrorCode'] ?? error.message);

  it.each<[string, string, unknown[]]>([
    ['a deep bomb (depth is found without expanding)', bomb(20, DEEP_LEAF), ['MAX_DEPTH_EXCEEDED']],
    ['a subscription on a graph without one', 'subscription { topProducts { name } }', ['OPERATION_NOT_SUPPORTED']],
    ['a reserved alias', '{ topProducts { __authz_upc: name } }', ['RESERVED_ALIAS']],
    ['11 root fields', `{ ${Array.from({ length: 11 }, (_, index) => `a${index}: topProducts { name }`).join(' ')} }`, ['MAX_ROOT_FIELDS_EXCEEDED']],
    ['16 aliases', `{ topProducts { ${Array.from({ length: 16 }, (_, index) => `a${index}: name`).join(' ')} } }`, ['MAX_ALIASES_EXCEEDED']],
    ['21 directives', `{ topProducts { ${Array.from({ length: 21 }, () => 'name @include(if: true)').join(' ')} } }`, ['MAX_DIRECTIVES_EXCEEDED']],
    ['a query within every limit', TEST_QUERY, []],
  ])('%s', (_case, query, expected) => {
    expect(codes(query)).toEqual(expected);
  });
});

describe('analyzeOperation: fields collected as execution collects them, once', () => {
  it.each(bombs.filter(([name]) => !name.includes('unknown')))('analyses %s in steps linear in the document', (_case, query) => {
    const document = parse(query);
    const analysis = analyze(query);
    // Each selection set is collected once per object type and merged group; the demo schema's abstract types are
    // few, so a small constant per written selection bounds it.
    expect(analysis.steps).toBeLessThanOrEqual(4 * selectionCount(document));
  });

  it('costs a fragment spread twice as much as spread once: execution merges them', () => {
    const once = analyze('fragment A on Product { reviews { author { name } } } { topProducts { ...A } }');
    const twice = analyze('fragment A on Product { reviews { author { name } } } { topProducts { ...A ...A } }');
    expect(once.cost).toBe(5 * (1 + 5 * 2));
    expect(twice.cost).toBe(once.cost);
  });

  it('costs each alias of a field: they run apart', () => {
    expect(analyze('{ a: topProducts { name } b: topProducts { name } }').cost).toBe(2 * analyze('{ topProducts { name } }').cost);
  });

  it.each<[string, string, Record<string, unknown>, number]>([
    ['the benchmark query', TEST_QUERY, {}, 3415],
    ['a list sized by its slicing argument', '{ topProducts(first: 3) { name } }', {}, 3],
    ['a slicing argument through a variable', 'query ($n: Int) { topProducts(first: $n) { name } }', { n: 7 }, 7],
    ['first: 0', '{ topProducts(first: 0) { name } }', {}, 0],
    ['a skipped field', 'query ($s: Boolean!) { topProducts @skip(if: $s) { name } me { id } }', { s: true }, 1],
    ['the bomb of __typename', bomb(20, '__typename'), {}, 0],
    ['the bomb of a costed leaf (merged: one topProducts)', bomb(20, 'topProducts { name }'), {}, 5],
  ])('estimates %s', (_case, query, variables, cost) => {
    expect(analyze(query, variables).cost).toBe(cost);
  });

  it.each<[string, string, Record<string, unknown>]>([
    ['a negative first', '{ topProducts(first: -1) { reviews(first: 100) { author { reviews(first: 100) { body } } } } }', {}],
    ['a negative first through a variable', 'query ($n: Int) { topProducts(first: $n) { name } }', { n: -5 }],
    ['null for a non-null @skip(if:) through a defaulted variable', 'query ($s: Boolean = false) { topProducts @skip(if: $s) { name } }', { s: null }],
  ])('refuses %s as the client\'s mistake (BAD_USER_INPUT)', (_case, query, variables) => {
    const error = thrownBy(() => analyze(query, variables));
    expect(error).toBeInstanceOf(GraphQLError);
    expect((error as GraphQLError).extensions).toMatchObject({ code: 'BAD_USER_INPUT', http: { status: 400 } });
  });

  it('counts each Type.field by the times it runs per parent, aliases apart and repeated spreads once', () => {
    const analysis = analyze('fragment C on Mutation { createReview(upc: "1", body: "x", rating: 5) { id } } mutation { ...C ...C other: createReview(upc: "1", body: "y", rating: 5) { id } }');
    expect(analysis.fieldCounts.get('Mutation.createReview')).toBe(2);
    expect(analysis.fieldCounts.get('Review.id')).toBe(2);
  });

  it('merges the nodes of one response key, and keeps where each is written', () => {
    const analysis = analyze('fragment F on Product { name } { topProducts { name ...F } }');
    const topProducts = analysis.root?.fields[0];
    const product = topProducts?.children[0];
    expect(product?.fields.map((field) => [field.responseKey, field.nodes.length, field.containers.length])).toEqual([['name', 2, 2]]);
  });
});

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Selections as written (fields, inline fragments, spreads), the measure of a document's size here. */
function selectionCount(document: DocumentNode): number {
  let count = 0;
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const kind = (node as { kind?: string }).kind;
    if (kind === 'Field' || kind === 'InlineFragment' || kind === 'FragmentSpread') count += 1;
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) value.forEach(visit);
      else if (typeof value === 'object' && value !== null && 'kind' in value) visit(value);
    }
  };
  visit(document);
  return count;
}

describe('selectionPairs: what graphql-js\'s overlap rule compares, counted linearly', () => {
  const nestedInline = (levels: number) => `{ topProducts { ${'... on Product { name '.repeat(levels)}${'} '.repeat(levels)} } }`;
  it.each<[string, string, number]>([
    ['the benchmark query', TEST_QUERY, 0],
    ['a field twice', '{ topProducts { name name } }', 1],
    ['one field 490 times', `{ ${'topProducts { name } '.repeat(490)} }`, (490 * 489) / 2],
    // topProducts' set merges three `name`s (3 pairs); each inline fragment's own set has one.
    ['fields merged through inline fragments', '{ topProducts { name ... on Product { name } ... on Product { name } } }', 3],
    ['four spreads', 'fragment A on Product { name } { topProducts { ...A ...A ...A ...A } }', 6],
    ['a document that does not parse', '{ topProducts {', Number.NaN],
  ])('counts %s', (_case, query, expected) => {
    const pairs = selectionPairs(query, 2000);
    if (Number.isNaN(expected)) expect(pairs).toBeUndefined();
    else expect(pairs).toBe(expected);
  });

  it('stays linear on inline fragments nested in each other', () => {
    // 20 levels: topProducts' set and each inline fragment's merge the names below them (the rule does too):
    // C(20,2) + C(20,2) + C(19,2) + ... + C(1,2) = 190 + 1330, not 2^20.
    expect(selectionPairs(nestedInline(20), 2000)).toBe(190 + 1330);
  });
});


describe('one analysis for requests that send the same operation and variables', () => {
  const analyzer = createRequestAnalyzer({ costModelOf: () => undefined, defaults: { listSize: 10 } });
  const document = parse('query ($first: Int, $upcs: [String]) { topProducts(first: $first) { name } }');
  const operation = getOperationAST(document) ?? missing();
  const analyze = (variables: Record<string, unknown> | undefined) => analyzer.analyze({ schema, document, operation, variables, context: {} });

  it('is shared between requests of equal scalar variables, and apart for others', () => {
    const first = analyze({ first: 3 });
    expect(first?.cost).toBe(3);
    expect(analyze({ first: 3 })).toBe(first);
    expect(analyze({ first: 4 })).not.toBe(first);
    expect(analyze({ first: 4 })?.cost).toBe(4);
    expect(analyze(undefined)).toBe(analyze(undefined));
  });

  it('is computed anew for list or object variables, never serialised', () => {
    const lists = { first: 2, upcs: ['1', '2'] };
    expect(analyze(lists)?.cost).toBe(2);
    expect(analyze(lists)).not.toBe(analyze(lists));
  });
});

function missing(): never {
  throw new Error('the test document has no operation');
}
