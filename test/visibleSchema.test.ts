import { readFileSync } from 'node:fs';
import { buildSchema, isObjectType, parse, printSchema, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { deny } from 'graphql-shield';
import { describe, expect, it } from 'vitest';
import demoConfig from '../gateway.config.js';
import { accessMatrix, apiSchemaOf, type Access } from '../src/authz/accessMatrix.js';
import { compilePolicy } from '../src/authz/compilePolicy.js';
import { answerIntrospection, firstIntrospectionField, introspectionOf, type IntrospectionKind } from '../src/authz/visibleIntrospection.js';
import { viewKey, visibleSchema, visibleSchemas } from '../src/authz/visibleSchema.js';
import { loadConfig } from '../src/config/index.js';
import { COMMITTED_SUPERGRAPH } from './harness.js';

// The demo policy as the gateway applies it, over the committed supergraph.
const SDL = readFileSync(COMMITTED_SUPERGRAPH, 'utf8');
const POLICY = loadConfig({}, { module: demoConfig }).policy;
const SCHEMA = apiSchemaOf(SDL);
const COMPILED = compilePolicy(SCHEMA, SDL, POLICY);
const MATRIX = await accessMatrix(SDL, POLICY);

/** `Type.field` of every field of every object type of a schema (introspection's left out). */
function fieldsOf(schema: GraphQLSchema): string[] {
  return Object.values(schema.getTypeMap())
    .filter((type) => isObjectType(type) && !type.name.startsWith('__'))
    .flatMap((type) => (isObjectType(type) ? Object.keys(type.getFields()).map((field) => `${type.name}.${field}`) : []))
    .sort();
}

describe('the visible schema of each caller class of the demo policy, against the access matrix', () => {
  const views = visibleSchemas(SCHEMA, COMPILED);
  it.each(MATRIX.callers.map((caller, column) => [caller.name, caller, column] as const))('%s sees every field the matrix does not deny, and none it denies', async (_name, caller, column) => {
    const view = await views.of(caller.principal);
    expect(view).toBeDefined();
    const expected = MATRIX.rows.filter((row) => row.access[column] !== 'deny').map((row) => row.field).sort();
    expect(fieldsOf(view!)).toEqual(expected);
    for (const row of MATRIX.rows.filter((row) => row.access[column] === 'deny')) expect(fieldsOf(view!)).not.toContain(row.field);
  });

  it.each<[string, string, boolean]>([
    ['anonymous', 'Product.costPrice', false],
    ['anonymous', 'Product.name', true],
    ['anonymous', 'User.email', true], // owner: decided on the object, so it stays
    ['user', 'Mutation.deleteReview', true], // lookup: decided on data the rule fetches
    ['role:admin', 'Product.costPrice', true],
  ])('%s: %s visible is %s', async (name, field, visible) => {
    const caller = MATRIX.callers.find((candidate) => candidate.name === name)!;
    expect(fieldsOf((await views.of(caller.principal))!).includes(field)).toBe(visible);
  });

  it('leaves out a root type with no field left: anonymous callers have no Mutation', async () => {
    const view = (await views.of({ kind: 'anonymous' }))!;
    expect(view.getMutationType()).toBeUndefined();
    expect(printSchema(view)).not.toContain('Mutation');
    expect((await views.of({ kind: 'user', subject: '1', roles: [], scopes: [] }))?.getMutationType()?.name).toBe('Mutation');
  });

  it('computes one view per set of roles and scopes, whoever holds them', async () => {
    const ada = await views.of({ kind: 'user', subject: '1', roles: ['admin', 'editor'], scopes: [] });
    const bob = await views.of({ kind: 'user', subject: '2', roles: ['editor', 'admin', 'admin'], scopes: [] });
    expect(bob).toBe(ada);
    expect(await views.of({ kind: 'user', subject: '1', roles: ['editor'], scopes: [] })).not.toBe(ada);
    expect(viewKey({ kind: 'user', subject: 'x', roles: ['b', 'a'], scopes: ['w', 'r'] })).toBe('user|a,b|r,w');
    expect(viewKey({ kind: 'user', subject: 'x', roles: [], scopes: [] })).not.toBe(viewKey({ kind: 'anonymous' }));
  });

  it('is undefined when nothing of Query is left (a policy that denies everything)', async () => {
    const denyAll = { ruleTree: { '*': deny }, policies: {}, options: POLICY.options };
    const compiled = compilePolicy(SCHEMA, SDL, denyAll);
    expect(await visibleSchemas(SCHEMA, compiled).of({ kind: 'anonymous' })).toBeUndefined();
  });
});

describe('the visible schema keeps GraphQL valid (interfaces, unions, unreachable types)', () => {
  const schema = buildSchema(/* GraphQL */ `
    type Query { node(id: ID!): Node  search(text: String): [Result]  secret: Secret  create(input: SecretInput): Secret }
    interface Node { id: ID!  label: String }
    type Book implements Node { id: ID!  label: String  isbn: String }
    type Film implements Node { id: ID!  label: String  minutes: Int }
    union Result = Book | Film | Vault
    type Vault { code: String }
    type Secret { value: String }
    input SecretInput { value: String }
    enum Unused { A }
  `);
  const allowAll = (): Map<string, Access> => {
    const access = new Map<string, Access>();
    for (const field of fieldsOf(schema)) access.set(field, 'allow');
    return access;
  };

  it('keeps everything (valid) when everything is allowed', () => {
    const view = visibleSchema(schema, allowAll())!;
    expect(fieldsOf(view)).toEqual(fieldsOf(schema));
    expect(view.getType('Node')).toBeDefined();
  });

  it('drops an interface field that one implementation hides, and keeps it on the implementation that has it', () => {
    const view = visibleSchema(schema, new Map([...allowAll(), ['Film.label', 'deny']]))!;
    const node = view.getType('Node') as unknown as { getFields(): Record<string, unknown> };
    expect(Object.keys(node.getFields())).toEqual(['id']);
    expect(fieldsOf(view)).toContain('Book.label');
    expect(fieldsOf(view)).not.toContain('Film.label');
  });

  it('drops an object left with no fields from its union and every field returning it, then unreachable types', () => {
    const view = visibleSchema(schema, new Map([...allowAll(), ['Vault.code', 'deny'], ['Secret.value', 'deny']]))!;
    expect(view.getType('Vault')).toBeUndefined();
    expect((view.getType('Result') as unknown as { getTypes(): { name: string }[] }).getTypes().map((type) => type.name)).toEqual(['Book', 'Film']);
    expect(view.getType('Secret')).toBeUndefined();
    expect(fieldsOf(view)).not.toContain('Query.secret');
    expect(fieldsOf(view)).not.toContain('Query.create');
    // Only the hidden `create` took it.
    expect(view.getType('SecretInput')).toBeUndefined();
    expect(view.getType('Unused')).toBeUndefined();
  });

  it('drops a union whose members are all gone, and an interface with no fields left', () => {
    const hidden = ['Book.id', 'Book.label', 'Book.isbn', 'Film.id', 'Film.label', 'Film.minutes', 'Vault.code'];
    const view = visibleSchema(schema, new Map([...allowAll(), ...hidden.map((field) => [field, 'deny'] as const)]))!;
    for (const name of ['Result', 'Node', 'Book', 'Film', 'Vault']) expect(view.getType(name)).toBeUndefined();
    expect(fieldsOf(view).filter((field) => field.startsWith('Query.'))).toEqual(['Query.create', 'Query.secret']);
  });
});

describe('introspection answered from the view', () => {
  const operation = (source: string) => {
    const document = parse(source);
    const { kind, fields } = introspectionOf(document, document.definitions.find((definition): definition is OperationDefinitionNode => definition.kind === 'OperationDefinition')!);
    return `${kind}: ${fields.map((field) => field.alias?.value ?? field.name.value).join(',')}`;
  };
  it.each<[string, `${IntrospectionKind}: ${string}`]>([
    ['{ topProducts { name } }', 'none: '],
    ['{ __typename topProducts { name } }', 'none: '],
    ['{ __schema { types { name } } }', 'only: __schema'],
    ['{ __typename t: __type(name: "Product") { name } }', 'only: t'],
    ['{ ...F } fragment F on Query { __schema { queryType { name } } }', 'only: __schema'],
    ['{ __schema { queryType { name } } topProducts { name } }', 'with-data: __schema'],
    ['{ ... on Query { __type(name: "User") { name } } ...F } fragment F on Query { me { id } }', 'with-data: __type'],
    ['{ __schema { queryType { name } } topProducts @skip(if: true) { name } }', 'with-data: __schema'],
  ])('%s is %s', (source, kind) => {
    expect(operation(source)).toBe(kind);
  });

  it('finds the first __schema or __type anywhere, as Apollo\'s NoIntrospection does', () => {
    expect(firstIntrospectionField(parse('{ a { b } ...F } fragment F on Query { __type(name: "X") { name } }'))?.name.value).toBe('__type');
    expect(firstIntrospectionField(parse('{ __typename a { __typename } }'))).toBeUndefined();
  });

  it('answers __type of a hidden type with null, of a visible one with its visible fields only', async () => {
    const schema = buildSchema('type Query { public: Public  hidden: Hidden }  type Public { a: Int  b: Int }  type Hidden { x: Int }');
    const view = visibleSchema(schema, new Map<string, Access>([['Query.public', 'allow'], ['Query.hidden', 'deny'], ['Public.a', 'allow'], ['Public.b', 'deny'], ['Hidden.x', 'allow']]));
    const document = parse('{ hidden: __type(name: "Hidden") { name } public: __type(name: "Public") { fields { name } } }');
    expect(await answerIntrospection({ view, document, operationName: undefined, variables: undefined })).toEqual({ data: { hidden: null, public: { fields: [{ name: 'a' }] } } });
  });

  it('answers FORBIDDEN, with no data, when nothing of Query is visible', async () => {
    const result = await answerIntrospection({ view: undefined, document: parse('{ __schema { queryType { name } } }'), operationName: undefined, variables: undefined });
    expect(result.data).toBeNull();
    expect(result.errors?.map((error) => [error.message, error.extensions['code']])).toEqual([['Nothing of this graph is visible to this caller: sign in, or ask for a role that may read it', 'FORBIDDEN']]);
  });
});
