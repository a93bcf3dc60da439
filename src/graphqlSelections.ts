import {
  getDirectiveValues,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isAbstractType,
  typeFromAST,
  type GraphQLObjectType,
  type GraphQLSchema,
  type NamedTypeNode,
  type SelectionNode,
} from 'graphql';

/** Whether execution would include a selection: `@skip` and `@include` read with the coerced variables. */
export function isIncluded(selection: SelectionNode, variables: Record<string, unknown>): boolean {
  if (getDirectiveValues(GraphQLSkipDirective, selection, variables)?.['if'] === true) return false;
  return getDirectiveValues(GraphQLIncludeDirective, selection, variables)?.['if'] !== false;
}

/** Whether a fragment's type condition applies to an object type (graphql-js's `doesFragmentConditionMatch`). */
export function typeConditionApplies(schema: GraphQLSchema, typeCondition: NamedTypeNode | undefined, type: GraphQLObjectType): boolean {
  if (typeCondition === undefined) return true;
  const conditionType = typeFromAST(schema, typeCondition);
  if (conditionType === undefined) return false;
  if (conditionType === type) return true;
  return isAbstractType(conditionType) && schema.isSubType(conditionType, type);
}
