import { BREAK, execute, GraphQLError, Kind, visit, type DocumentNode, type ExecutionResult, type FieldNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { ErrorCode } from '../errors.js';

/** What an operation asks of introspection: nothing, only that (with `__typename` at most), or that beside data. */
export type IntrospectionKind = 'none' | 'only' | 'with-data';

/** The fields that answer from the schema itself; `__schema` and `__type` exist only on the query root. */
const INTROSPECTION_FIELDS: ReadonlySet<string> = new Set(['__schema', '__type']);

/**
 * Whether an operation asks for `__schema` or `__type`, and whether anything else than introspection stands beside
 * them at its root (through inline fragments and fragment spreads, each fragment once; directives are not judged, so
 * a data field under `@skip(if: true)` still counts). A query of introspection fields and `__typename` only is `only`.
 * `fields`: the root `__schema` and `__type` fields, wherever at the root they were written.
 */
export function introspectionOf(document: DocumentNode, operation: OperationDefinitionNode): { kind: IntrospectionKind; fields: FieldNode[] } {
  const fragments = new Map(document.definitions.flatMap((definition) => (definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition.selectionSet] as const] : [])));
  const seen = new Set<string>();
  const fields: FieldNode[] = [];
  let data = false;
  const walk = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (INTROSPECTION_FIELDS.has(selection.name.value)) fields.push(selection);
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
  return { kind: fields.length === 0 ? 'none' : data ? 'with-data' : 'only', fields };
}

/** What `firstIntrospectionField` found in each parsed document (Apollo hands the same one to every request that sends its text). */
const introspectionFieldOf = new WeakMap<DocumentNode, FieldNode | null>();

/**
 * The first `__schema` or `__type` field anywhere in a document, as Apollo's NoIntrospection rule looks for them.
 * Walked once per parsed document: a full `visit` on every request cost 4% of the gateway's CPU on a small query.
 */
export function firstIntrospectionField(document: DocumentNode): FieldNode | undefined {
  const known = introspectionFieldOf.get(document);
  if (known !== undefined) return known ?? undefined;
  const found = findIntrospectionField(document);
  introspectionFieldOf.set(document, found ?? null);
  return found;
}

function findIntrospectionField(document: DocumentNode): FieldNode | undefined {
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
 * Answers an introspection-only operation (`introspectionOf` said `only`) from the caller's view (see `visibleSchema`),
 * with graphql-js's own introspection resolvers: `__type(name:)` of a hidden type is null, and `__schema` lists what the
 * caller may use. The document was validated against the whole API schema; introspection fields select the same on
 * any schema. A caller who may see nothing of Query gets FORBIDDEN: no valid schema has an empty query type.
 */
export async function answerIntrospection(options: { view: GraphQLSchema | undefined; document: DocumentNode; operationName: string | undefined; variables: Record<string, unknown> | undefined }): Promise<ExecutionResult> {
  if (options.view === undefined) return { data: null, errors: [nothingVisible()] };
  return execute({ schema: options.view, document: options.document, operationName: options.operationName, variableValues: options.variables });
}

/** Told to a caller who may see nothing of Query, where introspection would answer. */
function nothingVisible(): GraphQLError {
  return new GraphQLError('Nothing of this graph is visible to this caller: sign in, or ask for a role that may read it', { extensions: { code: ErrorCode.Forbidden } });
}

/**
 * An operation with introspection beside data: the data came through the query plan, whose planner answered the
 * introspection fields from the whole API schema. Those answers are replaced, each under its response key, by the
 * same fields answered from the caller's view (the root introspection fields alone, with the document's fragments
 * and the operation's variables, executed on the view). Data that is null (an error above it) is left as it is.
 */
export async function withVisibleIntrospection<T extends ExecutionResultLike>(
  result: T,
  options: { view: GraphQLSchema | undefined; document: DocumentNode; operation: OperationDefinitionNode; fields: readonly FieldNode[]; variables: Record<string, unknown> | undefined },
): Promise<T> {
  const data = result.data;
  if (data === null || data === undefined) return result;
  const only: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      { ...options.operation, selectionSet: { kind: Kind.SELECTION_SET, selections: [...options.fields] } },
      ...options.document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION),
    ],
  };
  const answer = options.view === undefined ? { data: null, errors: [nothingVisible()] } : await execute({ schema: options.view, document: only, variableValues: options.variables });
  const replaced: Record<string, unknown> = { ...data };
  for (const field of options.fields) {
    const key = field.alias?.value ?? field.name.value;
    if (key in replaced) replaced[key] = (answer.data as Record<string, unknown> | null | undefined)?.[key] ?? null;
  }
  const errors = [...(result.errors ?? []), ...(answer.errors ?? [])];
  return { ...result, data: replaced, ...(errors.length > 0 ? { errors } : {}) };
}

/** The shape of an execution result the gateway returns: what `withVisibleIntrospection` reads and writes. */
interface ExecutionResultLike {
  data?: Record<string, unknown> | null | undefined;
  errors?: readonly GraphQLError[] | undefined;
}
