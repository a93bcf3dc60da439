import { Supergraph } from '@apollo/federation-internals';
import { getNamedType, isIntrospectionType, isObjectType, isScalarType, parse, valueFromASTUntyped, visit, type GraphQLArgument, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { Principal } from '../auth/principal.js';
import { acknowledgeEnforcedSecurityFeatures } from '../supergraph/securityFeatures.js';
import type { AuthzContext } from './authzContext.js';
import { compilePolicy, type Policy } from './compilePolicy.js';
import { evaluateRule, NO_PARENT } from './ruleEvaluation.js';

/** What a caller class gets on a field: `allow`, `deny`, `owner` (decided on the object: ownership), `lookup` (decided on data the rule fetches). */
export type Access = 'allow' | 'deny' | 'owner' | 'lookup';

export interface AccessMatrix {
  /** The caller classes, in column order: anonymous, user, admin, then one per scope the supergraph requires. */
  callers: readonly string[];
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
  const scopes = requiredScopes(supergraphSdl);
  const callers: [string, Principal][] = [
    ['anonymous', { kind: 'anonymous' }],
    ['user', { kind: 'user', subject: 'someone', roles: [], scopes: [] }],
    ['admin', { kind: 'user', subject: 'someone', roles: ['admin'], scopes: [] }],
    ...scopes.map((scope): [string, Principal] => [`scope:${scope}`, { kind: 'user', subject: 'someone', roles: [], scopes: [scope] }]),
  ];

  const rows = [];
  const types = Object.values(schema.getTypeMap()).filter(isObjectType).filter((type) => !isIntrospectionType(type)).sort((a, b) => a.name.localeCompare(b.name));
  for (const type of types) {
    for (const field of Object.values(type.getFields())) {
      const fieldPolicy = compiled.field(type, field.name);
      const access: Access[] = [];
      for (const [, principal] of callers) {
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
        const decision = await evaluateRule(fieldPolicy.rule, NO_PARENT, placeholderArguments(field.args), context, info, compiled.options);
        access.push(decision.kind === 'allow' ? 'allow' : decision.kind === 'undecided' ? 'owner' : lookup ? 'lookup' : 'deny');
      }
      rows.push({ field: `${type.name}.${field.name}`, access, sources: fieldPolicy.sources });
    }
  }
  return { callers: callers.map(([name]) => name), rows, uncovered: compiled.uncovered, warnings: compiled.warnings };
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

/** Every scope any @requiresScopes in the supergraph names. */
function requiredScopes(supergraphSdl: string): string[] {
  const scopes = new Set<string>();
  visit(parse(supergraphSdl), {
    Directive(node) {
      if (node.name.value !== 'requiresScopes') return;
      const value = node.arguments?.find((argument) => argument.name.value === 'scopes')?.value;
      const nested = value === undefined ? [] : valueFromASTUntyped(value);
      if (Array.isArray(nested)) for (const inner of nested) if (Array.isArray(inner)) for (const scope of inner) scopes.add(String(scope));
    },
  });
  return [...scopes].sort();
}

/** The matrix as a plain-text table. */
export function formatAccessMatrix(matrix: AccessMatrix): string {
  const header = ['field', ...matrix.callers, 'decided by'];
  const lines = matrix.rows.map((row) => [row.field, ...row.access, row.sources.join(' + ')]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)));
  const format = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [format(header), format(widths.map((width) => '-'.repeat(width))), ...lines.map(format)].join('\n');
}
