import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSchema, execute, GraphQLError, parse, type GraphQLResolveInfo } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { allow, and, chain, deny, inputRule, not, or, race, rule, shield } from 'graphql-shield';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessMatrix, apiSchemaOf, callerClasses } from '../src/authz/accessMatrix.js';
import type { AuthzContext } from '../src/authz/authzContext.js';
import { compilePolicy } from '../src/authz/compilePolicy.js';
import { evaluateRule, NO_PARENT, type ShieldRule } from '../src/authz/ruleEvaluation.js';
import type { Principal } from '../src/auth/principal.js';
import demoConfig, { policies, ruleTree } from '../gateway.config.js';
import { loadConfig } from '../src/config/index.js';
import { hasRole, hasScopes, ownedBy } from '../src/authz/rules.js';
import { composeSupergraph } from '../src/topology/composeSupergraph.js';
import { gateway } from './cli.js';

// The demo's policy as the gateway applies it (graphql-shield's options defaulted by the config).
const shieldOptions = loadConfig({}, { module: demoConfig }).policy.options;
const isAdmin = hasRole('admin');
const isSelf = ownedBy('id');
import { COMMITTED_SUPERGRAPH } from './harness.js';

const anonymous: Principal = { kind: 'anonymous' };
const user = (subject: string, roles: string[] = []): Principal => ({ kind: 'user', subject, roles, scopes: [] });

function context(principal: Principal, reviews: Record<string, string> = {}): AuthzContext & { errors: unknown[] } {
  const errors: unknown[] = [];
  return {
    principal,
    requestId: 'test',
    fetchEntity: async ({ key }) => (reviews[String(key['id'])] === undefined ? null : { author: { id: reviews[String(key['id'])] } }),
    _shield: { cache: {} },
    onRuleError: (error) => errors.push(error),
    errors,
  };
}

describe('the rule tree under graphql-shield itself', () => {
  // The tree is a plain graphql-shield rule tree: applied with graphql-middleware to an executable schema, shield
  // decides with it as it would in any server. The gateway's own enforcement is tested through HTTP elsewhere.
  const schema = apiSchemaOf(readFileSyncText(COMMITTED_SUPERGRAPH));
  const shielded = applyMiddleware(schema, shield(ruleTree, shieldOptions));
  const root = {
    user: ({ id }: { id: string }) => ({ id, name: `User ${id}`, email: `${id}@example.com`, birthday: 19700101 }),
    deleteReview: () => true,
  };
  const run = async (principal: Principal, text: string) =>
    execute({ schema: shielded, document: parse(text), rootValue: root, contextValue: context(principal, { '1': '1', '2': '2' }) });

  it.each([
    ['the user themself', user('1')],
    ['an admin', user('9', ['admin'])],
  ])('shows a user\'s email to %s', async (_who, principal) => {
    const result = await run(principal, '{ user(id: "1") { email } }');
    expect(result).toEqual({ data: { user: { email: '1@example.com' } } });
  });

  it.each([
    ['another user', user('2')],
    ['an anonymous caller', anonymous],
  ])('hides a user\'s email from %s with the FORBIDDEN fallback error', async (_who, principal) => {
    const result = await run(principal, '{ user(id: "1") { name email } }');
    expect(result.data).toEqual({ user: { name: 'User 1', email: null } });
    expect(result.errors?.map((error) => [error.message, error.extensions['code']])).toEqual([['Not authorised', 'FORBIDDEN']]);
  });

  it('lets a review\'s author delete it, and no one else but an admin', async () => {
    expect((await run(user('1'), 'mutation { deleteReview(id: "1") }')).data).toEqual({ deleteReview: true });
    expect((await run(user('9', ['admin']), 'mutation { deleteReview(id: "1") }')).data).toEqual({ deleteReview: true });
    expect((await run(user('2'), 'mutation { deleteReview(id: "1") }')).data).toEqual({ deleteReview: null });
  });

  it('denies a field the tree does not name (fallbackRule: deny)', async () => {
    const extended = buildSchema('type Query { user(id: ID!): User } type User { id: ID! name: String email: String birthday: Int username: String reviews: [Int] secret: String }');
    const result = await execute({
      schema: applyMiddleware(extended, shield({ Query: { user: allow }, User: (ruleTree as Record<string, ShieldRule>)['User'] as never }, shieldOptions)),
      document: parse('{ user(id: "1") { name secret } }'),
      rootValue: { user: () => ({ name: 'n', secret: 's' }) },
      contextValue: context(user('1')),
    });
    expect(result.data).toEqual({ user: { name: 'n', secret: null } });
    expect(result.errors?.[0]?.extensions['code']).toBe('FORBIDDEN');
  });
});

describe('three-valued evaluation before execution', () => {
  const info = {} as GraphQLResolveInfo;
  const decide = async (shieldRule: ShieldRule, principal: Principal, parent: unknown = NO_PARENT) =>
    (await evaluateRule(shieldRule, parent, {}, context(principal), info, shieldOptions)).kind;
  const undecidable = or(isSelf, isSelf);

  it.each<[string, ShieldRule, Principal, string]>([
    ['or(isAdmin, isSelf) for an admin', or(isAdmin, isSelf), user('1', ['admin']), 'allow'],
    ['or(isAdmin, isSelf) for a user', or(isAdmin, isSelf), user('1'), 'undecided'],
    ['and(isAdmin, isSelf) for a user', and(isAdmin, isSelf), user('1'), 'deny'],
    ['and(isAdmin, isSelf) for an admin', and(isAdmin, isSelf), user('1', ['admin']), 'undecided'],
    ['not(isSelf)', not(undecidable), user('1'), 'undecided'],
    ['not(isAdmin) for a user', not(isAdmin), user('1'), 'allow'],
    ['chain(deny, isSelf)', chain(deny, isSelf), user('1'), 'deny'],
    ['race(isSelf, allow)', race(isSelf, allow), user('1'), 'allow'],
    ['race(isSelf, deny)', race(isSelf, deny), user('1'), 'undecided'],
  ])('%s is %s', async (_name, shieldRule, principal, expected) => {
    expect(await decide(shieldRule, principal)).toBe(expected);
  });

  it('decides the same rules once the parent is there', async () => {
    expect(await decide(or(isAdmin, isSelf), user('1'), { id: '1' })).toBe('allow');
    expect(await decide(or(isAdmin, isSelf), user('1'), { id: '2' })).toBe('deny');
  });

  it.each<[string, ShieldRule, string]>([
    ['a contextual rule (it promised to read only the context)', rule('contextual', { cache: 'contextual' })(() => false), 'deny'],
    ['a strict rule (it may read its parent)', rule('strict', { cache: 'strict' })(() => false), 'undecided'],
    ['a rule without cache option (no_cache)', rule('plain')(() => false), 'undecided'],
    ['a rule that reads its parent without declaring it', rule('reads')((parent: { id?: string }) => parent.id === '1'), 'undecided'],
    ['an input rule (strict)', inputRule('input')((yup) => yup.object({})), 'undecided'],
    ['or(contextual allow, plain)', or(rule('yes', { cache: 'contextual' })(() => true), rule('plain-or')(() => false)), 'allow'],
  ])('before execution, below the root: %s is %s', async (_name, shieldRule, expected) => {
    expect(await decide(shieldRule, user('1'))).toBe(expected);
  });

  it('judges any rule on the root value, which exists before execution', async () => {
    const onRoot = async (shieldRule: ShieldRule) => (await evaluateRule(shieldRule, undefined, {}, context(user('1')), info, shieldOptions)).kind;
    expect(await onRoot(rule('plain-root')(() => true))).toBe('allow');
    expect(await onRoot(rule('reads-root')((parent: unknown) => parent === undefined))).toBe('allow');
  });

  it('turns a rule\'s string into a FORBIDDEN denial with that message, as shield returns it, and a thrown error into a logged denial', async () => {
    const said = rule('says')(() => 'no way');
    const ctx = context(user('1'));
    const decision = await evaluateRule(said, undefined, {}, ctx, info, shieldOptions);
    expect(decision.kind === 'deny' && [decision.error.message, decision.error.extensions['code']]).toEqual(['no way', 'FORBIDDEN']);
    const returned = await evaluateRule(rule('returns')(() => new Error('not yours')), undefined, {}, ctx, info, shieldOptions);
    expect(returned.kind === 'deny' && [returned.error.message, returned.error.extensions['code']]).toEqual(['not yours', 'FORBIDDEN']);
    const throws = rule('throws')(() => {
      throw new Error('boom');
    });
    expect(await evaluateRule(throws, undefined, {}, ctx, info, shieldOptions)).toEqual({ kind: 'deny', error: shieldOptions.fallbackError });
    expect(ctx.errors).toEqual([new Error('boom')]);
  });

  it('keeps a rule that throws a denial even under not()', async () => {
    const throws = rule('throws-under-not')(() => {
      throw new Error('boom');
    });
    expect(await evaluateRule(not(throws), undefined, {}, context(user('1')), info, shieldOptions)).toEqual({ kind: 'deny', error: shieldOptions.fallbackError });
  });

  it('returns not()\'s own error when the rule it negates allows', async () => {
    const decision = await evaluateRule(not(allow, new GraphQLError('already a member', { extensions: { code: 'CONFLICT' } })), undefined, {}, context(user('1')), info, shieldOptions);
    expect(decision.kind === 'deny' && [decision.error.message, decision.error.extensions['code']]).toEqual(['already a member', 'CONFLICT']);
  });

  it('passes a rule\'s GraphQLError through', async () => {
    const explained = rule('explained')(() => new GraphQLError('members only', { extensions: { code: 'FORBIDDEN' } }));
    const decision = await evaluateRule(explained, undefined, {}, context(anonymous), info, shieldOptions);
    expect(decision.kind === 'deny' && decision.error.message).toBe('members only');
  });
});

describe('rules from a second copy of graphql-shield', () => {
  // A config module may bring its own graphql-shield (another version, hoisted elsewhere): its classes are not this
  // process's. A real second copy, loaded from a folder of its own.
  const copyRoot = join(new URL('..', import.meta.url).pathname, 'node_modules', '.shield-copy');
  let copy: typeof import('graphql-shield');
  const info = {} as GraphQLResolveInfo;
  const decide = async (shieldRule: ShieldRule, principal: Principal, parent: unknown = NO_PARENT) =>
    (await evaluateRule(shieldRule, parent, {}, context(principal), info, shieldOptions)).kind;

  beforeAll(async () => {
    await rm(copyRoot, { recursive: true, force: true });
    await cp(join(new URL('..', import.meta.url).pathname, 'node_modules', 'graphql-shield'), join(copyRoot, 'node_modules', 'graphql-shield'), { recursive: true });
    copy = (await import(join(copyRoot, 'node_modules', 'graphql-shield', 'esm', 'index.js'))) as typeof import('graphql-shield');
  });
  afterAll(() => rm(copyRoot, { recursive: true, force: true }));

  it('is another copy indeed', () => {
    expect(copy.allow).not.toBe(allow);
    expect((copy.and() as object).constructor).not.toBe((and() as object).constructor);
  });

  it('is recognised, evaluated with shield\'s semantics, and accepted by the config', async () => {
    const own = copy.rule('copy-contextual', { cache: 'contextual' })((_parent, _args, ctx: AuthzContext) => ctx.principal.kind === 'user');
    const owner = copy.rule('copy-owner', { cache: 'strict', fragment: 'fragment O on User { id }' })((parent: { id?: string }, _args, ctx: AuthzContext) => ctx.principal.kind === 'user' && parent.id === ctx.principal.subject);
    const tree = copy.or(copy.and(own, owner), copy.not(copy.allow));
    expect(await decide(tree, user('1'))).toBe('undecided');
    expect(await decide(tree, user('1'), { id: '1' })).toBe('allow');
    expect(await decide(tree, user('1'), { id: '2' })).toBe('deny');
    expect(await decide(tree, anonymous)).toBe('deny');
    const config = loadConfig({}, { module: { policy: { ruleTree: { ...(ruleTree as object), User: { ...(ruleTree as Record<string, object>)['User'], email: tree } }, policies } } });
    const compiled = compilePolicy(apiSchemaOf(readFileSyncText(COMMITTED_SUPERGRAPH)), readFileSyncText(COMMITTED_SUPERGRAPH), config.policy);
    const schema = apiSchemaOf(readFileSyncText(COMMITTED_SUPERGRAPH));
    expect(compiled.field(schema.getType('User') as Parameters<typeof compiled.field>[0], 'email').reads.map((read) => read.name.value)).toEqual(['id']);
  });
});

describe('compiling the policy against a supergraph', () => {
  const supergraph = readFileSyncText(COMMITTED_SUPERGRAPH);
  const schema = apiSchemaOf(supergraph);

  it('covers every field of the demo supergraph explicitly', () => {
    const compiled = compilePolicy(schema, supergraph, { ruleTree, policies, options: shieldOptions });
    expect(compiled.uncovered).toEqual([]);
    expect(compiled.warnings).toEqual([]);
  });

  it('combines the tree with the SDL directives, and reads the fields ownership rules need', () => {
    const compiled = compilePolicy(schema, supergraph, { ruleTree, policies, options: shieldOptions });
    const type = (name: string) => schema.getType(name) as Parameters<typeof compiled.field>[0];
    expect(compiled.field(type('Query'), 'me').sources).toEqual(['rule tree', '@authenticated']);
    expect(compiled.field(type('Product'), 'costPrice').sources).toEqual(['rule tree', '@policy']);
    expect(compiled.field(type('User'), 'email').reads.map((read) => read.name.value)).toEqual(['id']);
  });

  it('fetches the key fields for a rule that may read its parent without declaring what, and nothing for a contextual one', () => {
    const undeclared = rule('undeclared')((parent: { id?: string }) => parent.id !== undefined);
    const compiled = compilePolicy(schema, supergraph, { ruleTree: { ...(ruleTree as object), User: { name: undeclared, username: and(isAdmin, undeclared), email: isSelf, id: isAdmin } }, policies, options: shieldOptions });
    const reads = (field: string) => compiled.field(schema.getType('User') as Parameters<typeof compiled.field>[0], field).reads.map((read) => read.name.value);
    expect([reads('name'), reads('username'), reads('email'), reads('id')]).toEqual([['id'], ['id'], ['id'], []]);
    expect(compiled.field(schema.getType('Product') as Parameters<typeof compiled.field>[0], 'name').reads).toEqual([]);
  });

  it('lists fields that fall back to deny, and warns of @policy names with no rule and rules for missing fields', () => {
    const compiled = compilePolicy(schema, supergraph.replace('@policy(policies: [["admin"]])', '@policy(policies: [["auditor"]])'), {
      ruleTree: { ...(ruleTree as object), Query: { topProducts: allow }, Ghost: { field: allow } },
      policies,
      options: shieldOptions,
    });
    expect(compiled.uncovered).toEqual(['Query.user', 'Query.product']);
    expect(compiled.warnings).toEqual([
      "@policy names \"auditor\", which is not one of the policy's named rules (policy.policies in the config module): it denies",
      'the rule tree names type Ghost, which the supergraph does not have',
    ]);
  });
});

function readFileSyncText(url: URL): string {
  return readFileSync(url, 'utf8');
}

describe('the caller classes of the access matrix, read from the policy', () => {
  const ROOT = new URL('..', import.meta.url).pathname;
  let library: string;

  beforeAll(async () => {
    // The library graph as its team has it (see secondGraph.test.ts), composed by `gateway compose`.
    library = await mkdtemp(join(tmpdir(), 'library-permissions-'));
    await cp(join(ROOT, 'test/fixtures/library'), library, { recursive: true });
    for (const shared of ['dist', 'node_modules']) await symlink(join(ROOT, shared), join(library, shared));
    expect(await gateway(['compose'], { cwd: library })).toMatchObject({ code: 0 });
  });

  afterAll(async () => {
    await rm(library, { recursive: true, force: true });
  });

  /** `gateway permissions` output as rows of cells by column header, and the caller legend as its lines. */
  function readMatrix(stdout: string): { header: string[]; row(field: string): Record<string, string>; legend: string[] } {
    const [table = '', legend = ''] = stdout.split('\n\nCallers:\n');
    const [headerLine = '', , ...lines] = table.split('\n');
    const header = headerLine.split(/ {2,}/);
    return {
      header,
      row(field) {
        const cells = lines.map((line) => line.split(/ {2,}/)).find(([name]) => name === field);
        expect(cells, `no row for ${field}`).toBeDefined();
        return Object.fromEntries(header.map((title, column) => [title, cells?.[column] ?? '']));
      },
      legend: legend.split('\n\n')[0]?.split('\n') ?? [],
    };
  }

  it('shows the demo: anonymous, a plain user and the admin role its policy names (its supergraph requires no scope)', async () => {
    const printed = await gateway(['permissions']);
    expect(printed.code).toBe(0);
    const matrix = readMatrix(printed.stdout);
    expect(matrix.header).toEqual(['field', 'anonymous', 'user', 'role:admin', 'decided by']);
    expect(matrix.legend).toEqual(['  anonymous   no token', '  user        signed in, with no roles or scopes', '  role:admin  signed in, with role admin and nothing else']);
    expect(matrix.row('User.email')).toMatchObject({ anonymous: 'owner', user: 'owner', 'role:admin': 'allow' });
    expect(matrix.row('Mutation.createProduct')).toMatchObject({ anonymous: 'deny', user: 'deny', 'role:admin': 'allow' });
    expect(printed.stdout).toMatch(/\n\nallow: always; deny: never; owner: .*\n$/);
  });

  it('shows the library graph\'s own librarian role, who may read every Loan.note a plain user may read only as its owner', async () => {
    const printed = await gateway(['permissions', '--config', 'gateway.config.mjs'], { cwd: library });
    expect(printed).toMatchObject({ code: 0, stderr: '' });
    const matrix = readMatrix(printed.stdout);
    expect(matrix.header).toEqual(['field', 'anonymous', 'user', 'role:librarian', 'decided by']);
    expect(matrix.row('Loan.note')).toEqual({ field: 'Loan.note', anonymous: 'owner', user: 'owner', 'role:librarian': 'allow', 'decided by': 'rule tree' });
    expect(matrix.row('Query.loans')).toMatchObject({ anonymous: 'deny', user: 'allow', 'role:librarian': 'allow' });
    expect(matrix.legend).toContain('  role:librarian  signed in, with role librarian and nothing else');
  });

  it('finds roles and scope sets however deep the policy nests them: and/or/not/chain/race, named policies, the fallback', () => {
    const policy = {
      ruleTree: {
        Query: { a: and(or(hasRole('editor'), not(hasScopes(['write', 'read']))), chain(race(hasRole('auditor'), deny))), b: isSelf },
        User: hasRole('support'),
      },
      policies: { staff: or(hasRole('staff'), hasRole('editor')) },
      options: { ...shieldOptions, fallbackRule: hasScopes(['fallback']) },
    };
    const sdl = 'type Query { a: Int @requiresScopes(scopes: [["read", "write"], ["audit"]]) b: Int @requiresScopes(scopes: [[]]) }';
    expect(callerClasses(policy, sdl)).toEqual([
      { name: 'anonymous', principal: { kind: 'anonymous' } },
      { name: 'user', principal: { kind: 'user', subject: 'someone', roles: [], scopes: [] } },
      ...['auditor', 'editor', 'staff', 'support'].map((role) => ({ name: `role:${role}`, principal: { kind: 'user', subject: 'someone', roles: [role], scopes: [] } })),
      // One class per set, whichever order it was written in and wherever it came from; the empty set is `user`.
      { name: 'scope:audit', principal: { kind: 'user', subject: 'someone', roles: [], scopes: ['audit'] } },
      { name: 'scope:fallback', principal: { kind: 'user', subject: 'someone', roles: [], scopes: ['fallback'] } },
      { name: 'scope:read+write', principal: { kind: 'user', subject: 'someone', roles: [], scopes: ['read', 'write'] } },
    ]);
  });

  it('merges the scopes the supergraph requires with those the policy names, one class per scope set', async () => {
    const composed = await composeSupergraph([{ name: 'shipping', url: new URL('http://shipping:4005/graphql'), schemaFile: join(ROOT, 'test/fixtures/shipping/shipping.graphql') }]);
    if (!composed.ok) throw new Error(composed.errors.join('\n'));
    const matrix = await accessMatrix(composed.supergraphSdl, {
      ruleTree: { Product: { upc: allow, carbonFootprint: hasScopes(['quotes:read']) } },
      policies: { public: allow },
      options: shieldOptions,
    });
    expect(matrix.callers.map((caller) => caller.name)).toEqual(['anonymous', 'user', 'scope:quotes:admin', 'scope:quotes:read']);
    const access = (field: string) => matrix.rows.find((row) => row.field === field)?.access;
    expect(access('Query.shippingQuote')).toEqual(['deny', 'deny', 'allow', 'allow']);
    expect(access('Product.carbonFootprint')).toEqual(['deny', 'deny', 'deny', 'allow']);
  });
});

describe('npm run permissions -- --as <caller class>: the schema as that class may see it', () => {
  it.each(['anonymous', 'user', 'role:admin'])('prints the SDL of %s\'s view: every field its matrix column does not deny, and no other', async (name) => {
    const [printed, matrix] = await Promise.all([gateway(['permissions', '--as', name]), gateway(['permissions'])]);
    expect(printed).toMatchObject({ code: 0, stderr: '' });
    expect(printed.stdout.split('\n')[0]).toBe(`# The schema as ${name} may see it: what its introspection answers. Fields decided on the object or on looked-up data are shown.`);
    const view = buildSchema(printed.stdout);
    const shown = Object.values(view.getTypeMap())
      .filter((type) => !type.name.startsWith('__') && 'getFields' in type && !('parseLiteral' in type))
      .flatMap((type) => Object.keys((type as unknown as { getFields(): Record<string, unknown> }).getFields()).map((field) => `${type.name}.${field}`))
      .sort();
    // The matrix as printed: one row per field, one column per class.
    const lines = matrix.stdout.split('\n\n')[0]!.split('\n');
    const column = lines[0]!.split(/\s{2,}/).indexOf(name);
    const allowed = lines.slice(2).map((line) => line.split(/\s{2,}/)).filter((cells) => cells[column] !== 'deny').map((cells) => cells[0]!).sort();
    expect(shown).toEqual(allowed);
  });

  it('leaves Product.costPrice and the whole Mutation type out of the anonymous view, and keeps them for role:admin', async () => {
    const anonymous = (await gateway(['permissions', '--as', 'anonymous'])).stdout;
    expect(anonymous).not.toMatch(/costPrice|type Mutation/);
    expect(anonymous).toContain('  name: String\n');
    const admin = (await gateway(['permissions', '--as', 'role:admin'])).stdout;
    expect(admin).toContain('  costPrice: Int\n');
    expect(admin).toContain('type Mutation {');
  });

  it.each<[string, string[], string]>([
    ['an unknown caller class, naming the known ones', ['--as', 'role:nobody'], '--as role:nobody: no such caller class under this policy; the classes are: anonymous, user, role:admin\n'],
    ['--as with --check', ['--as', 'anonymous', '--check'], "--as prints one caller class's view, --check checks every field: use one of them\n"],
  ])('refuses %s with exit code 2', async (_case, argv, message) => {
    expect(await gateway(['permissions', ...argv])).toEqual({ code: 2, stdout: '', stderr: message });
  });
});
