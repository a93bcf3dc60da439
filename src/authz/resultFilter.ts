import { isListType, isNonNullType, locatedError, type GraphQLError, type GraphQLOutputType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { FieldSelection, ObjectSelection, OperationAnalysis } from '../analysis/operationAnalysis.js';
import type { AuthzContext } from './authzContext.js';
import type { OperationCheck } from './checkOperation.js';
import type { CompiledPolicy } from './compilePolicy.js';
import { AUTHZ_ALIAS_PREFIX, readAlias } from './rewriteDocument.js';
import { fieldInfo } from './fieldInfo.js';
import { evaluateRule, type Decision } from './ruleEvaluation.js';

export interface FilterInput {
  schema: GraphQLSchema;
  analysis: OperationAnalysis;
  check: OperationCheck;
  policy: CompiledPolicy;
  authz: AuthzContext;
  /** The gateway's result for the rewritten operation, shaped by the shaping document; changed in place. */
  data: Record<string, unknown>;
}

export interface FilterResult {
  /** Null when a denied non-null field left nothing above it (as GraphQL propagates nulls). */
  data: Record<string, unknown> | null;
  errors: GraphQLError[];
}

type Path = GraphQLResolveInfo['path'];

/** A non-null field or list element that became null: its parent becomes null in turn. */
const INVALID = Symbol('null in a non-null position');

/**
 * Decides what the check before execution could not, on the gateway's result, walking it along the request's
 * analysis (the fields as execution collected them) and only where the check found something to decide
 * (`check.visit`):
 * - a field denied before execution becomes null with its FORBIDDEN error at its exact path;
 * - a guarded field's rule runs on the real object: the fields its `fragment` declares (fetched under the gateway's
 *   own aliases, never a client's) and the client's own fields selected without alias or arguments; denied, the field
 *   becomes null with the rule's error at its path;
 * - a null where the schema says non-null spreads up to the nearest nullable field, as GraphQL execution does, with one
 *   error (the denial) and none for the fields it took with it;
 * - what the rewrite added (`__authz_` aliases, `__typename` the client did not select) is taken out again.
 * The rules of an object are decided before anything below it changes, so a rule sees its object as fetched.
 */
export async function filterResult(input: FilterInput): Promise<FilterResult> {
  const { schema, analysis, check, policy, authz } = input;
  const errors: GraphQLError[] = [];
  const pathOf = (path: Path): (string | number)[] => {
    const keys: (string | number)[] = [];
    for (let at: Path | undefined = path; at !== undefined; at = at.prev) keys.unshift(at.key);
    return keys;
  };
  const deny = (field: FieldSelection, error: GraphQLError, path: Path) => {
    errors.push(locatedError(error, field.nodes, pathOf(path)));
  };

  const decide = async (field: FieldSelection, parent: Record<string, unknown>, path: Path): Promise<Decision> => {
    const { parentType, fieldName } = field;
    const info = fieldInfo(schema, analysis, field, path);
    const decision = await evaluateRule(policy.field(parentType, fieldName).rule, parent, { ...field.args }, authz, info, policy.options);
    if (decision.kind !== 'undecided') return decision;
    // Cannot happen (the parent is there now); fail closed all the same.
    authz.onRuleError(new Error(`the rule of ${parentType.name}.${fieldName} is undecided on its object`), `${parentType.name}.${fieldName}`);
    return { kind: 'deny', error: policy.options.fallbackError };
  };

  /** Walks one object; false when it must become null (a non-null field of it is null now). */
  const walkObject = async (object: Record<string, unknown>, selection: ObjectSelection, at: Path | undefined): Promise<boolean> => {
    const typeName = selection.type.name;
    const parent = parentOf(object, selection, policy);
    const selectsTypename = selection.fields.some((field) => field.responseKey === '__typename');
    for (const key of Object.keys(object)) {
      if (key.startsWith(AUTHZ_ALIAS_PREFIX) || (key === '__typename' && !selectsTypename)) delete object[key];
    }

    let inserted = false;
    // First every decision on this object, on the object as fetched; then what is below.
    const decisions = await Promise.all(
      selection.fields.map(async (field): Promise<GraphQLError | undefined> => {
        const path: Path = { prev: at, key: field.responseKey, typename: typeName };
        const denied = check.denied.get(field);
        if (denied !== undefined) return denied;
        if (!check.guarded.has(field) || !(field.responseKey in object)) return undefined;
        const decision = await decide(field, parent, path);
        return decision.kind === 'deny' ? decision.error : undefined;
      }),
    );
    const outcomes = await Promise.all(
      selection.fields.map(async (field, index): Promise<boolean> => {
        const { responseKey, definition } = field;
        if (definition === undefined) return true;
        const path: Path = { prev: at, key: responseKey, typename: typeName };
        const error = decisions[index];
        if (error !== undefined) {
          deny(field, error, path);
          if (!(responseKey in object)) inserted = true;
          object[responseKey] = null;
          return !isNonNullType(definition.type);
        }
        if (!(responseKey in object) || !field.children.some((child) => check.visit.has(child))) return true;
        const value = await complete(object[responseKey], definition.type, field, path);
        if (value === INVALID) {
          object[responseKey] = null;
          return false;
        }
        object[responseKey] = value;
        return true;
      }),
    );
    // A field the rewrite removed had no key: put the keys back in the client's order, as execution would.
    if (inserted) {
      const entries = selection.fields.filter((field) => field.responseKey in object).map((field) => [field.responseKey, object[field.responseKey]] as const);
      for (const key of Object.keys(object)) delete object[key];
      for (const [key, value] of entries) object[key] = value;
    }
    return outcomes.every(Boolean);
  };

  const complete = async (value: unknown, type: GraphQLOutputType, field: FieldSelection, path: Path): Promise<unknown> => {
    if (isNonNullType(type)) {
      const completed = await complete(value, type.ofType, field, path);
      return completed === null ? INVALID : completed;
    }
    if (value === null || value === undefined || typeof value !== 'object') return value;
    if (isListType(type)) {
      if (!Array.isArray(value)) return value;
      const items = await Promise.all(value.map((item, index) => complete(item, type.ofType, field, { prev: path, key: index, typename: undefined })));
      if (items.includes(INVALID)) return null;
      return items;
    }
    const object = value as Record<string, unknown>;
    const child = field.children.length === 1 && !field.abstract ? field.children[0] : field.children.find((candidate) => candidate.type.name === object['__typename']);
    // No `__typename` where the gateway did not ask for one: every type with something to decide selects it, so
    // this object is of a type without.
    if (child === undefined && object['__typename'] === undefined && !field.nodes.some((node) => node.selectionSet !== undefined && check.typenames.has(node.selectionSet))) return object;
    if (child === undefined) {
      // An object whose type cannot be told, below something to decide: nothing of it is shown.
      authz.onRuleError(new Error(`no __typename on an object of ${String(type)}`), `${field.parentType.name}.${field.fieldName}`);
      deny(field, policy.options.fallbackError, path);
      return null;
    }
    if (!check.visit.has(child)) return object;
    return (await walkObject(object, child, path)) ? object : null;
  };

  const root = analysis.root;
  if (root === undefined) return { data: input.data, errors };
  const ok = await walkObject(input.data, root, undefined);
  return { data: ok ? input.data : null, errors };
}

/**
 * The object a rule of this type sees as its parent: the client's leaf fields selected without alias or arguments (a
 * client alias can never pass one field off as another, and an object field's own selections are the client's
 * too), then what the rules' fragments declared, fetched under the gateway's own aliases.
 */
function parentOf(object: Record<string, unknown>, selection: ObjectSelection, policy: CompiledPolicy): Record<string, unknown> {
  const parent: Record<string, unknown> = {};
  for (const field of selection.fields) {
    if (field.definition === undefined || field.responseKey !== field.fieldName || field.definition.args.length > 0 || field.nodes.some((node) => node.selectionSet !== undefined)) continue;
    if (field.responseKey in object) parent[field.fieldName] = object[field.responseKey];
  }
  const type = selection.type;
  for (const field of selection.fields) {
    if (field.definition === undefined) continue;
    for (const read of policy.field(type, field.fieldName).reads) {
      const alias = readAlias(type.name, read.name.value);
      if (alias in object) parent[read.name.value] = object[alias];
    }
  }
  return parent;
}
