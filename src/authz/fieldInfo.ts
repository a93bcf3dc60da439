import type { GraphQLResolveInfo, GraphQLSchema } from 'graphql';
import type { FieldSelection, OperationAnalysis } from '../analysis/operationAnalysis.js';

/**
 * The `info` a rule gets for one field, as graphql-js would give its resolver: built from the request's analysis,
 * before execution (the check) and after it (the result filter) alike. No resolver runs at the gateway, so the fields
 * a rule cannot use there (`rootValue`) are left empty.
 */
export function fieldInfo(schema: GraphQLSchema, analysis: OperationAnalysis, field: FieldSelection, path: GraphQLResolveInfo['path']): GraphQLResolveInfo {
  return {
    fieldName: field.fieldName,
    fieldNodes: field.nodes,
    returnType: field.definition?.type,
    parentType: field.parentType,
    path,
    schema,
    fragments: analysis.fragments,
    rootValue: undefined,
    operation: analysis.operation,
    variableValues: analysis.variables,
  } as GraphQLResolveInfo;
}
