import {
  getArgumentValues,
  getNamedType,
  getNullableType,
  GraphQLError,
  GraphQLList,
  isAbstractType,
  isCompositeType,
  isObjectType,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { isIncluded, typeConditionApplies } from './graphqlSelections.js';
import type { CostModel } from './costModel.js';

/**
 * One response key of one object type, as execution collects it: every field node of that key merged (a fragment
 * spread twice selects its fields once), with the arguments coerced.
 */
export interface FieldSelection {
  parentType: GraphQLObjectType;
  responseKey: string;
  fieldName: string;
  /** Undefined for introspection fields (`__typename`, `__schema`, `__type`). */
  definition: GraphQLField<unknown, unknown> | undefined;
  /** The merged nodes, in document order. */
  nodes: readonly FieldNode[];
  /** The selection set each node is written in (a fragment's, an inline fragment's, or a field's). */
  containers: readonly SelectionSetNode[];
  args: Readonly<Record<string, unknown>>;
  /** Whether the field returns an interface or union (its object type is told by `__typename`). */
  abstract: boolean;
  /** What the field selects on each object type it may return; empty for leaves. */
  children: readonly ObjectSelection[];
}

/** The fields an operation selects on one object type at one place. Shared wherever the same nodes meet the same type. */
export interface ObjectSelection {
  type: GraphQLObjectType;
  fields: readonly FieldSelection[];
}

/** Everything the limits, the rate limiter and the authorization check need to know about one request's operation. */
export interface OperationAnalysis {
  operation: OperationDefinitionNode;
  /** The document's fragments by name. */
  fragments: Readonly<Record<string, FragmentDefinitionNode>>;
  /** The variables as execution sees them (coerced, defaults applied). */
  variables: Readonly<Record<string, unknown>>;
  /** Undefined when the schema has no root type for the operation (validation refuses those). */
  root: ObjectSelection | undefined;
  /** The static cost estimate (see `analyzeOperation`). */
  cost: number;
  /** How many times each `Type.field` would run per parent object, aliases counted apart, for per-field caps. */
  fieldCounts: ReadonlyMap<string, number>;
  /** Selections looked at, for tests that prove the work is linear in the document's size. */
  steps: number;
}

export interface CostDefaults {
  /** Elements assumed in a list whose size neither @listSize nor a `first`/`last`/`limit` argument gives. */
  listSize: number;
}

/** Weights when no @cost says otherwise: an object (or interface, union) 1, a scalar or enum 0, a mutation field 10. */
const OBJECT_WEIGHT = 1;
const LEAF_WEIGHT = 0;
const MUTATION_WEIGHT = 10;
const SIZE_ARGUMENTS = ['first', 'last', 'limit'];

/**
 * Collects the operation's fields as graphql-js's execution does (`collectFields`: fragments expanded once per
 * selection set, `@skip`/`@include` read with the coerced variables, type conditions matched per object type, fields
 * merged by response key) into a graph where each distinct (object type, merged nodes) pair is one `ObjectSelection`,
 * built once and shared. The work is linear in the size of the document, whatever its fragments multiply to.
 *
 * On that graph it computes, once:
 * - the cost: each field costs its weight plus what it selects, times the list size for a list; for a field of
 *   abstract type the costliest possible type counts. Weights come from `@cost`, list sizes from `@listSize`'s slicing
 *   arguments (the largest given) or assumed size, else from `first`/`last`/`limit`, else the default. A slicing
 *   argument that is negative or not a whole number is the client's mistake: a 400 (BAD_USER_INPUT), never a way to
 *   zero the cost of what it slices.
 * - the count of each `Type.field`, for per-field caps.
 *
 * Throws a GraphQLError with BAD_USER_INPUT (HTTP 400) for arguments that do not coerce.
 */
export function analyzeOperation(input: {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fragments: Readonly<Record<string, FragmentDefinitionNode>>;
  variables: Readonly<Record<string, unknown>>;
  model: CostModel;
  defaults: CostDefaults;
}): OperationAnalysis {
  const { schema, operation, fragments, variables, model, defaults } = input;
  let steps = 0;
  // Merged nodes are told apart by a number each, so that a group of nodes has a short memo key.
  const nodeIds = new Map<FieldNode, number>();
  const idOf = (node: FieldNode): number => {
    let id = nodeIds.get(node);
    if (id === undefined) {
      id = nodeIds.size;
      nodeIds.set(node, id);
    }
    return id;
  };
  const built = new Map<string, ObjectSelection | 'building'>();
  // Completed selections, children before parents: reversed, parents come first (for counting paths).
  const completed: ObjectSelection[] = [];
  const EMPTY_ARGS: Readonly<Record<string, unknown>> = Object.freeze({});

  const collect = (type: GraphQLObjectType, selectionSets: readonly SelectionSetNode[]) => {
    const byKey = new Map<string, { nodes: FieldNode[]; containers: SelectionSetNode[] }>();
    const visitedFragments = new Set<string>();
    const visit = (selectionSet: SelectionSetNode): void => {
      for (const selection of selectionSet.selections) {
        steps += 1;
        if (!isIncluded(selection, variables)) continue;
        if (selection.kind === Kind.FIELD) {
          const key = selection.alias?.value ?? selection.name.value;
          const entry = byKey.get(key);
          if (entry === undefined) byKey.set(key, { nodes: [selection], containers: [selectionSet] });
          else {
            entry.nodes.push(selection);
            entry.containers.push(selectionSet);
          }
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          if (typeConditionApplies(schema, selection.typeCondition, type)) visit(selection.selectionSet);
        } else {
          const name = selection.name.value;
          if (visitedFragments.has(name)) continue;
          visitedFragments.add(name);
          const fragment = fragments[name];
          if (fragment !== undefined && typeConditionApplies(schema, fragment.typeCondition, type)) visit(fragment.selectionSet);
        }
      }
    };
    for (const selectionSet of selectionSets) visit(selectionSet);
    return byKey;
  };

  const selectionOf = (type: GraphQLObjectType, selectionSets: readonly SelectionSetNode[], memoKey: string): ObjectSelection => {
    const known = built.get(memoKey);
    // A selection met again while it is being built is a fragment cycle through fields, which validation refuses:
    // it selects nothing here.
    if (known === 'building') return { type, fields: [] };
    if (known !== undefined) return known;
    built.set(memoKey, 'building');
    const fields: FieldSelection[] = [];
    for (const [responseKey, { nodes, containers }] of collect(type, selectionSets)) {
      const first = nodes[0] as FieldNode;
      const fieldName = first.name.value;
      const definition = fieldName.startsWith('__') ? undefined : type.getFields()[fieldName];
      const args = definition === undefined ? EMPTY_ARGS : coerceArguments(definition, first, variables);
      const named = definition === undefined ? undefined : getNamedType(definition.type);
      const children: ObjectSelection[] = [];
      const childSets = nodes.flatMap((node) => (node.selectionSet === undefined ? [] : [node.selectionSet]));
      if (named !== undefined && childSets.length > 0) {
        const possible = isObjectType(named) ? [named] : isAbstractType(named) ? schema.getPossibleTypes(named) : [];
        const groupKey = nodes.map(idOf).join(',');
        for (const childType of possible) children.push(selectionOf(childType, childSets, `${childType.name}|${groupKey}`));
      }
      fields.push({ parentType: type, responseKey, fieldName, definition, nodes, containers, args, abstract: named !== undefined && isAbstractType(named), children });
    }
    const selection: ObjectSelection = { type, fields };
    built.set(memoKey, selection);
    completed.push(selection);
    return selection;
  };

  const rootType = schema.getRootType(operation.operation);
  let root: ObjectSelection | undefined;
  try {
    root = rootType === undefined || rootType === null ? undefined : selectionOf(rootType, [operation.selectionSet], `${rootType.name}|root`);
  } catch (error) {
    // graphql-js refuses some values only when it reads them (null for a non-null `@skip(if:)` through a defaulted
    // variable): the client's mistake, a 400.
    if (error instanceof GraphQLError && error.extensions['code'] === undefined) throw badUserInput(error.message, error.nodes);
    throw error;
  }

  // Cost, memoised per shared selection.
  const mutationType = operation.operation === 'mutation' ? schema.getMutationType() : undefined;
  const costs = new Map<ObjectSelection, number>();
  const costOf = (selection: ObjectSelection): number => {
    const known = costs.get(selection);
    if (known !== undefined) return known;
    costs.set(selection, 0); // a cycle (never valid) adds nothing
    let total = 0;
    for (const field of selection.fields) total += fieldCost(field);
    costs.set(selection, total);
    return total;
  };
  const fieldCost = (field: FieldSelection): number => {
    const { definition, parentType } = field;
    if (definition === undefined) return 0;
    const named = getNamedType(definition.type);
    const explicit = model.fieldWeight(parentType.name, definition.name) ?? model.typeWeight(named.name);
    const weight = explicit ?? (parentType === mutationType ? MUTATION_WEIGHT : isCompositeType(named) ? OBJECT_WEIGHT : LEAF_WEIGHT);
    let argumentsCost = 0;
    for (const argument of Object.keys(field.args)) argumentsCost += model.argumentWeight(parentType.name, definition.name, argument) ?? 0;
    let children = 0;
    for (const child of field.children) children = Math.max(children, costOf(child));
    const isList = getNullableType(definition.type) instanceof GraphQLList;
    const size = isList ? listSize(field) : 1;
    return argumentsCost + size * (weight + children);
  };
  const listSize = (field: FieldSelection): number => {
    const declared = model.listSize(field.parentType.name, field.fieldName);
    const slicing = declared?.slicingArguments ?? SIZE_ARGUMENTS;
    let largest: number | undefined;
    for (const name of slicing) {
      const value = field.args[name];
      if (value === undefined || value === null) continue;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw badSlicingArgument(field, name);
      largest = Math.max(largest ?? 0, value);
    }
    return largest ?? declared?.assumedSize ?? defaults.listSize;
  };
  const cost = root === undefined ? 0 : Math.ceil(costOf(root));

  // How often each field runs per parent object: the number of paths from the root to its selection.
  const paths = new Map<ObjectSelection, number>();
  if (root !== undefined) paths.set(root, 1);
  const fieldCounts = new Map<string, number>();
  for (let index = completed.length - 1; index >= 0; index -= 1) {
    const selection = completed[index] as ObjectSelection;
    const times = paths.get(selection) ?? 0;
    for (const field of selection.fields) {
      if (field.definition === undefined) continue;
      const key = `${field.parentType.name}.${field.fieldName}`;
      fieldCounts.set(key, (fieldCounts.get(key) ?? 0) + times);
      for (const child of field.children) paths.set(child, (paths.get(child) ?? 0) + times);
    }
  }

  return { operation, fragments, variables, root, cost, fieldCounts, steps };
}

/** Argument values as execution will read them; graphql-js refuses some only then (null through a defaulted variable). */
function coerceArguments(definition: GraphQLField<unknown, unknown>, node: FieldNode, variables: Readonly<Record<string, unknown>>): Record<string, unknown> {
  try {
    return getArgumentValues(definition, node, variables as Record<string, unknown>);
  } catch (error) {
    if (error instanceof GraphQLError) throw badUserInput(error.message, error.nodes);
    throw error;
  }
}

function badSlicingArgument(field: FieldSelection, argument: string): GraphQLError {
  return badUserInput(`The argument "${argument}" of ${field.parentType.name}.${field.fieldName} must be a whole number, 0 or more`, field.nodes);
}

function badUserInput(message: string, nodes: GraphQLError['nodes']): GraphQLError {
  return new GraphQLError(message, { nodes, extensions: { code: ApolloServerErrorCode.BAD_USER_INPUT, http: { status: 400 } } });
}
