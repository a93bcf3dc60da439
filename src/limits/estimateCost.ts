import {
  getArgumentValues,
  getNamedType,
  getNullableType,
  GraphQLList,
  isAbstractType,
  isCompositeType,
  isObjectType,
  Kind,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import { isIncluded, typeConditionApplies } from '../graphqlSelections.js';
import type { CostModel } from './costModel.js';

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
 * A static estimate of what an operation costs, before anything runs: each field costs its weight plus what it
 * selects, times the list size for a list. Fragments are expanded, `@skip`/`@include` honoured with the variables,
 * and for an abstract type the costliest possible type counts. List sizes come from @listSize's slicing arguments
 * (the largest given) or assumed size, else from `first`/`last`/`limit`, else the default: a huge `first:` costs
 * accordingly.
 */
export function estimateCost(input: {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fragments: Readonly<Record<string, FragmentDefinitionNode>>;
  variables: Record<string, unknown>;
  model: CostModel;
  defaults: CostDefaults;
  /** When given, counts each `Type.field` the walk meets (aliases separately), for per-field caps. */
  fieldCounts?: Map<string, number> | undefined;
}): number {
  const { schema, operation, fragments, variables, model, defaults, fieldCounts } = input;
  const root = schema.getRootType(operation.operation);
  if (root === undefined || root === null) return 0;
  const mutation = operation.operation === 'mutation';

  const included = (selection: SelectionNode) => isIncluded(selection, variables);

  const selectionCost = (selectionSet: SelectionSetNode, type: GraphQLObjectType, visiting: ReadonlySet<string>): number => {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (!included(selection)) continue;
      if (selection.kind === Kind.FIELD) {
        total += fieldCost(selection, type, visiting);
        continue;
      }
      const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments[selection.name.value];
      // A fragment cycle never validates; stop here rather than recurse.
      if (fragment === undefined || (selection.kind === Kind.FRAGMENT_SPREAD && visiting.has(selection.name.value))) continue;
      if (!typeConditionApplies(schema, fragment.typeCondition, type)) continue;
      const nextVisiting = selection.kind === Kind.FRAGMENT_SPREAD ? new Set([...visiting, selection.name.value]) : visiting;
      total += selectionCost(fragment.selectionSet, type, nextVisiting);
    }
    return total;
  };

  const fieldCost = (node: import('graphql').FieldNode, parent: GraphQLObjectType, visiting: ReadonlySet<string>): number => {
    const definition = parent.getFields()[node.name.value];
    if (definition === undefined) return 0;
    if (fieldCounts !== undefined) {
      const key = `${parent.name}.${definition.name}`;
      fieldCounts.set(key, (fieldCounts.get(key) ?? 0) + 1);
    }
    const named = getNamedType(definition.type);
    let args: Record<string, unknown> = {};
    try {
      args = getArgumentValues(definition, node, variables);
    } catch {
      // Arguments that do not coerce fail in execution; count them as absent here.
    }
    const explicit = model.fieldWeight(parent.name, definition.name) ?? model.typeWeight(named.name);
    const weight = explicit ?? (mutation && parent === schema.getMutationType() ? MUTATION_WEIGHT : isCompositeType(named) ? OBJECT_WEIGHT : LEAF_WEIGHT);
    let argumentsCost = 0;
    for (const argument of Object.keys(args)) argumentsCost += model.argumentWeight(parent.name, definition.name, argument) ?? 0;

    let children = 0;
    if (node.selectionSet !== undefined) {
      const possible = isObjectType(named) ? [named] : isAbstractType(named) ? schema.getPossibleTypes(named) : [];
      for (const type of possible) children = Math.max(children, selectionCost(node.selectionSet, type, visiting));
    }
    const isList = getNullableType(definition.type) instanceof GraphQLList;
    const size = isList ? listSize(parent.name, definition.name, args) : 1;
    return argumentsCost + size * (weight + children);
  };

  const listSize = (type: string, field: string, args: Record<string, unknown>): number => {
    const declared = model.listSize(type, field);
    const sizes = (declared?.slicingArguments ?? SIZE_ARGUMENTS).map((name) => args[name]).filter((value): value is number => typeof value === 'number');
    if (sizes.length > 0) return Math.max(0, ...sizes);
    return declared?.assumedSize ?? defaults.listSize;
  };

  return Math.ceil(selectionCost(operation.selectionSet, root, new Set()));
}
