import { Supergraph } from '@apollo/federation-internals';
import { getNamedType, isIntrospectionType, isObjectType, isScalarType, parse, valueFromASTUntyped, visit, type GraphQLArgument, type GraphQLField, type GraphQLObjectType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { Principal } from '../auth/principal.js';
import { acknowledgeEnforcedSecurityFeatures } from '../supergraph/securityFeatures.js';
import type { AuthzContext } from './authzContext.js';
import { compilePolicy, type CompiledPolicy, type Policy } from './compilePolicy.js';
import { childRules, evaluateRule, isShieldRule, leafName, NO_PARENT, type ShieldRule } from './ruleEvaluation.js';

/** What a caller class gets on a field: `allow`, `deny`, `owner` (decided on the object: ownership), `lookup` (decided on data the rule fetches). */
export type Access = 'allow' | 'deny' | 'owner' | 'lookup';

/** A class of caller the matrix has a column for, and the principal that stands for it. */
export interface CallerClass {
  /** `anonymous`, `user`, `role:<role>`, or `scope:<scope>` (`scope:<a>+<b>` for a set). */
  name: string;
  principal: Principal;
}

export interface AccessMatrix {
  /** The caller classes, in column order (see `callerClasses`). */
  callers: readonly CallerClass[];
  rows: readonly { field: string; access: readonly Access[]; sources: readonly string[] }[];
  /** Fields only the fallback rule covers. */
  uncovered: readonly string[];
  warnings: readonly string[];
}

class LookupNeeded extends Error {}

/** The API schema of a supergraph, as the gateway builds it. */
export function apiSchemaOf(supergraphSdl: string): GraphQLSchema {
  return Supergraph.build(acknowledgeEnforcedSecurityFeatures(supergraphSdl)).apiSchema().toGraphQLJSSchema();
}

/** Evaluates every field's rule for each class of caller, before any data exists, as the gateway's first check does. */
export async function accessMatrix(supergraphSdl: string, policy: Policy): Promise<AccessMatrix> {
  const schema = apiSchemaOf(supergraphSdl);
  const compiled = compilePolicy(schema, supergraphSdl, policy);
  const callers = callerClasses(policy, supergraphSdl);
  const columns: Map<string, Access>[] = [];
  for (const { principal } of callers) columns.push(await accessOf(schema, compiled, principal));
  const rows = objectFields(schema).map(({ type, field }) => {
    const key = `${type.name}.${field.name}`;
    return { field: key, access: columns.map((column) => column.get(key) ?? 'deny'), sources: compiled.field(type, field.name).sources };
  });
  return { callers, rows, uncovered: compiled.uncovered, warnings: compiled.warnings };
}

/** Every field of every object type of the schema (introspection's left out), types in name order. */
function objectFields(schema: GraphQLSchema): { type: GraphQLObjectType; field: GraphQLField<unknown, unknown> }[] {
  const types = Object.values(schema.getTypeMap()).filter(isObjectType).filter((type) => !isIntrospectionType(type)).sort((a, b) => a.name.localeCompare(b.name));
  return types.flatMap((type) => Object.values(type.getFields()).map((field) => ({ type, field })));
}

/**
 * What one caller gets on every field of every object type (`Type.field` → access), each rule judged before any data
 * exists: one column of the access matrix. The principal's roles and scopes decide; a rule that reads its subject
 * sees the one given (the matrix and the visible schema pass a stand-in, so that the answer is the same for every
 * caller of a class).
 */
export async function accessOf(schema: GraphQLSchema, compiled: CompiledPolicy, principal: Principal): Promise<Map<string, Access>> {
  const access = new Map<string, Access>();
  const rootTypes = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]);
  for (const { type, field } of objectFields(schema)) {
    let lookup = false;
    const context: AuthzContext = {
      principal,
      requestId: 'access-matrix',
      fetchEntity: async () => {
        throw new LookupNeeded();
      },
      _shield: { cache: {} },
      onRuleError: (error) => {
        if (error instanceof LookupNeeded) lookup = true;
      },
    };
    const info = { fieldName: field.name, parentType: type, returnType: field.type, schema } as GraphQLResolveInfo;
    // A root field's parent is the root value, there before execution: its rule is judged then, as the gateway does.
    const parent = rootTypes.has(type) ? undefined : NO_PARENT;
    const decision = await evaluateRule(compiled.field(type, field.name).rule, parent, placeholderArguments(field.args), context, info, compiled.options);
    access.set(`${type.name}.${field.name}`, decision.kind === 'allow' ? 'allow' : decision.kind === 'undecided' ? 'owner' : lookup ? 'lookup' : 'deny');
  }
  return access;
}

/** Stand-in argument values, so that a rule that looks data up by an argument gets as far as the look-up. */
function placeholderArguments(args: readonly GraphQLArgument[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const argument of args) {
    const type = getNamedType(argument.type);
    values[argument.name] = !isScalarType(type) ? null : type.name === 'Int' || type.name === 'Float' ? 0 : type.name === 'Boolean' ? false : 'example';
  }
  return values;
}

/**
 * The classes of caller whose access can differ under this policy, in column order: anonymous, a signed-in user with no
 * roles or scopes, one per role the policy's rules name (`hasRole:<role>`), and one per set of scopes its rules
 * (`hasScopes:<scopes>`) or the supergraph's @requiresScopes name, each class holding that role or set alone. A custom
 * rule that reads roles or scopes under another name has no column of its own (issue 10).
 */
export function callerClasses(policy: Policy, supergraphSdl: string): CallerClass[] {
  const roles = new Set<string>();
  const scopeSets = new Map<string, string[]>();
  const addScopes = (scopes: readonly string[]) => {
    const set = [...new Set(scopes)].sort();
    // An empty set is what any signed-in user holds: the `user` class.
    if (set.length > 0) scopeSets.set(set.join('+'), set);
  };
  for (const name of leafRuleNames(policy)) {
    if (name.startsWith('hasRole:')) roles.add(name.slice('hasRole:'.length));
    else if (name.startsWith('hasScopes:')) addScopes(name.slice('hasScopes:'.length).split(' ').filter(Boolean));
  }
  for (const set of requiredScopeSets(supergraphSdl)) addScopes(set);

  const signedIn = (name: string, roles: readonly string[], scopes: readonly string[]): CallerClass => ({ name, principal: { kind: 'user', subject: 'someone', roles, scopes } });
  return [
    { name: 'anonymous', principal: { kind: 'anonymous' } },
    signedIn('user', [], []),
    ...[...roles].sort().map((role) => signedIn(`role:${role}`, [role], [])),
    ...[...scopeSets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, set]) => signedIn(`scope:${key}`, [], set)),
  ];
}

/**
 * The names of the policy's leaf rules: in its rule tree, its named policies and its fallback rule, through and/or/not/
 * chain/race (their `getRules()`, as `parentFragments` walks them). Each rule once, however often the policy reuses it.
 */
function leafRuleNames(policy: Policy): Set<string> {
  const names = new Set<string>();
  const seen = new Set<ShieldRule>();
  const walk = (shieldRule: ShieldRule): void => {
    if (seen.has(shieldRule)) return;
    seen.add(shieldRule);
    const name = leafName(shieldRule);
    if (name !== undefined) names.add(name);
    childRules(shieldRule).forEach(walk);
  };
  // The tree as graphql-shield reads it: a rule for everything, or per type a rule or a map of field rules.
  const tree = policy.ruleTree;
  if (isShieldRule(tree)) walk(tree);
  else {
    for (const forType of Object.values(tree)) {
      if (isShieldRule(forType)) walk(forType);
      else for (const forField of Object.values(forType)) walk(forField);
    }
  }
  Object.values(policy.policies).forEach(walk);
  walk(policy.options.fallbackRule);
  return names;
}

/** Every set of scopes an @requiresScopes in the supergraph names (each inner list of its `scopes`: all of them are needed). */
function requiredScopeSets(supergraphSdl: string): string[][] {
  const sets: string[][] = [];
  visit(parse(supergraphSdl), {
    Directive(node) {
      if (node.name.value !== 'requiresScopes') return;
      const value = node.arguments?.find((argument) => argument.name.value === 'scopes')?.value;
      const nested = value === undefined ? [] : valueFromASTUntyped(value);
      if (Array.isArray(nested)) for (const inner of nested) if (Array.isArray(inner)) sets.push(inner.map(String));
    },
  });
  return sets;
}

/**
 * The matrix as a plain-text table, one column per caller class headed by its name, then what each class stands for:
 * with a column per role and scope set, a header alone would not say that `role:admin` holds no other role.
 */
export function formatAccessMatrix(matrix: AccessMatrix): string {
  const header = ['field', ...matrix.callers.map((caller) => caller.name), 'decided by'];
  const lines = matrix.rows.map((row) => [row.field, ...row.access, row.sources.join(' + ')]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)));
  const format = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  const nameWidth = Math.max(...matrix.callers.map((caller) => caller.name.length));
  const legend = matrix.callers.map((caller) => `  ${caller.name.padEnd(nameWidth)}  ${describePrincipal(caller.principal)}`);
  return [format(header), format(widths.map((width) => '-'.repeat(width))), ...lines.map(format), '', 'Callers:', ...legend].join('\n');
}

function describePrincipal(principal: Principal): string {
  if (principal.kind === 'anonymous') return 'no token';
  const held = [
    ...(principal.roles.length === 0 ? [] : [`${principal.roles.length === 1 ? 'role' : 'roles'} ${principal.roles.join(', ')}`]),
    ...(principal.scopes.length === 0 ? [] : [`${principal.scopes.length === 1 ? 'scope' : 'scopes'} ${principal.scopes.join(', ')}`]),
  ];
  return held.length === 0 ? 'signed in, with no roles or scopes' : `signed in, with ${held.join(' and ')} and nothing else`;
}
