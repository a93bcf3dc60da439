import {
  getDirectiveValues,
  getVariableValues,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
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

const fragmentsByDocument = new WeakMap<DocumentNode, Readonly<Record<string, FragmentDefinitionNode>>>();

/** A document's fragments by name; computed once per document (Apollo Server reuses parsed documents). */
export function fragmentsOf(document: DocumentNode): Readonly<Record<string, FragmentDefinitionNode>> {
  let fragments = fragmentsByDocument.get(document);
  if (fragments === undefined) {
    const byName: Record<string, FragmentDefinitionNode> = {};
    for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) byName[definition.name.value] = definition;
    fragments = byName;
    fragmentsByDocument.set(document, fragments);
  }
  return fragments;
}

/**
 * An operation's variables coerced as execution will see them (undefined if they do not coerce). Computed once per
 * request, by the request's analysis (`createRequestAnalyzer`), which carries them to every reader.
 */
export function coercedVariables(schema: GraphQLSchema, operation: OperationDefinitionNode, raw: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return getVariableValues(schema, operation.variableDefinitions ?? [], raw ?? {}).coerced;
}
