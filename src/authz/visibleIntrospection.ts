import { ApolloServerErrorCode } from '@apollo/server/errors';
import { BREAK, execute, GraphQLError, Kind, visit, type DocumentNode, type ExecutionResult, type FieldNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { ErrorCode } from '../errors.js';

/** The validation code of an operation that asks for introspection beside data (see `introspectionOf`). */
export const INTROSPECTION_WITH_DATA = 'INTROSPECTION_WITH_DATA';

/** What an operation asks of introspection: nothing, only that (with `__typename` at most), or that beside data. */
export type IntrospectionKind = 'none' | 'only' | 'with-data';

/** The fields that answer from the schema itself; `__schema` and `__type` exist only on the query root. */
const INTROSPECTION_FIELDS: ReadonlySet<string> = new Set(['__schema', '__type']);

/**
 * Whether an operation asks for `__schema` or `__type`, and whether anything else than introspection stands beside
 * them at its root (through inline fragments and fragment spreads, each fragment once; directives are not judged, so
 * a data field under `@skip(if: true)` still counts). A query of introspection fields and `__typename` only is `only`.
 */
export function introspectionOf(document: DocumentNode, operation: OperationDefinitionNode): IntrospectionKind {
  const fragments = new Map(document.definitions.flatMap((definition) => (definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition.selectionSet] as const] : [])));
  const seen = new Set<string>();
  let introspection = false;
  let data = false;
  const walk = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (INTROSPECTION_FIELDS.has(selection.name.value)) introspection = true;
        else if (selection.name.value !== '__typename') data = true;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet);
      } else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment !== undefined) walk(fragment);
      }
    }
  };
  walk(operation.selectionSet);
  return !introspection ? 'none' : data ? 'with-data' : 'only';
}

/** The first `__schema` or `__type` field anywhere in a document, as Apollo's NoIntrospection rule looks for them. */
export function firstIntrospectionField(document: DocumentNode): FieldNode | undefined {
  let found: FieldNode | undefined;
  visit(document, {
    Field(node) {
      if (!INTROSPECTION_FIELDS.has(node.name.value)) return undefined;
      found = node;
      return BREAK;
    },
  });
  return found;
}

/**
 * An operation with introspection beside data is refused before anything runs: introspection is answered from the
 * caller's view of the schema, data through the query plan, and one answer cannot come from both without the
 * planner answering introspection from the whole schema. Ask for them in two operations.
 */
export function introspectionWithData(node: FieldNode | undefined): GraphQLError {
  return new GraphQLError('Ask for __schema or __type in an operation of their own: introspection is answered from the schema as this caller may see it, not beside data', {
    ...(node === undefined ? {} : { nodes: [node] }),
    extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED, validationErrorCode: INTROSPECTION_WITH_DATA, http: { status: 400 } },
  });
}

/**
 * Answers an introspection-only operation (`introspectionOf` said `only`) from the caller's view (see `visibleSchema`),
 * with graphql-js's own introspection resolvers: `__type(name:)` of a hidden type is null, and `__schema` lists what the
 * caller may use. The document was validated against the whole API schema; introspection fields select the same on
 * any schema. A caller who may see nothing of Query gets FORBIDDEN: no valid schema has an empty query type.
 */
export async function answerIntrospection(options: { view: GraphQLSchema | undefined; document: DocumentNode; operationName: string | undefined; variables: Record<string, unknown> | undefined }): Promise<ExecutionResult> {
  if (options.view === undefined) {
    return { data: null, errors: [new GraphQLError('Nothing of this graph is visible to this caller: sign in, or ask for a role that may read it', { extensions: { code: ErrorCode.Forbidden } })] };
  }
  return execute({ schema: options.view, document: options.document, operationName: options.operationName, variableValues: options.variables });
}
