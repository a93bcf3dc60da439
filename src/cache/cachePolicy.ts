import { Kind, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { CacheHint, CacheHints, CacheScope } from './cacheHints.js';

/** What an operation's cache hints add up to, as Apollo Server's cache control plugin would compute it. */
export interface CachePolicy {
  readonly operation: 'query' | 'mutation' | 'subscription';
  /** The least maxAge of its fields; 0 when no field gave one (Apollo's `no-store`). */
  readonly maxAge: number;
  readonly scope: CacheScope;
  /**
   * The object types whose fields it selects: what a mutation changes, what a query depends on. Root types are left
   * out, but for a query's root field of a scalar or enum (`reviewCount`), which depends on no type it names: the query
   * root stands for it, and every mutation evicts it (publicData.ts).
   */
  readonly types: readonly string[];
}

/** Federation's entity field: in a subgraph's schema, never in the supergraph's. */
const ENTITIES_FIELD = '_entities';

/**
 * The cache policy of an operation, from the supergraph's hints, with the rules of Apollo Server's cache control
 * plugin (@apollo/server/dist/esm/plugin/cacheControl, defaultMaxAge 0):
 *
 * - a field's hint replaces its composite return type's hint, unless the field says `inheritMaxAge` and the type gave
 *   no maxAge; a type that says `inheritMaxAge` lets its fields inherit too;
 * - a root field, or a composite field that does not inherit, with no maxAge gets 0; a scalar field without one
 *   inherits (it restricts nothing);
 * - the policy is the least maxAge of all fields, and PRIVATE as soon as one field is.
 *
 * `_entities` (a subgraph fetch of entities) is restricted by the hint of each type it fetches, as @apollo/subgraph's
 * entities resolver does, and gets 0 when none gives a maxAge. A field selected on an interface or a union counts for
 * every object type it may be (at run time Apollo reads the object type's field): the policy can only be stricter.
 * `@skip`/`@include` are not applied (more fields, a stricter policy). Returns undefined when the document names a
 * type or field the supergraph does not have: the caller treats such an operation as private.
 */
export function cachePolicy(hints: CacheHints, document: DocumentNode, operationName?: string): CachePolicy | undefined {
  const operations = document.definitions.filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName === undefined ? (operations.length === 1 ? operations[0] : undefined) : operations.find((candidate) => candidate.name?.value === operationName);
  if (operation === undefined) return undefined;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);

  const root = operation.operation === 'query' ? hints.roots.query : operation.operation === 'mutation' ? hints.roots.mutation : undefined;
  if (root === undefined) return undefined;
  let maxAge: number | undefined;
  let scope: CacheScope | undefined;
  const restrict = (hint: CacheHint) => {
    if (hint.maxAge !== undefined && (maxAge === undefined || hint.maxAge < maxAge)) maxAge = hint.maxAge;
    if (hint.scope !== undefined && scope !== 'PRIVATE') scope = hint.scope;
  };
  const types = new Set<string>();
  // Each (fragment, parent type) once: a field's contribution depends only on its parent type and on being a root.
  const visitedFragments = new Set<string>();
  let understood = true;

  const walk = (selectionSet: SelectionSetNode, parentTypes: readonly string[], isRoot: boolean): void => {
    for (const selection of selectionSet.selections) {
      if (!understood) return;
      switch (selection.kind) {
        case Kind.FIELD: {
          const name = selection.name.value;
          if (name === '__typename') continue;
          if (isRoot && name === ENTITIES_FIELD && operation.operation === 'query') {
            entities(selection.selectionSet);
            continue;
          }
          const children: string[] = [];
          for (const parent of parentTypes) {
            const field = hints.field(parent, name);
            const target = field === undefined ? undefined : hints.type(field.returnType);
            if (field === undefined || target === undefined) {
              understood = false;
              return;
            }
            if (!isRoot || (operation.operation === 'query' && target.kind === 'leaf')) types.add(parent);
            restrict(fieldPolicy(field.hint, target.kind === 'leaf' ? undefined : target.hint, isRoot));
            if (target.kind !== 'leaf') for (const possible of target.possibleTypes) if (!children.includes(possible)) children.push(possible);
          }
          if (selection.selectionSet !== undefined) walk(selection.selectionSet, children, false);
          break;
        }
        case Kind.INLINE_FRAGMENT: {
          const condition = selection.typeCondition?.name.value;
          walk(selection.selectionSet, condition === undefined ? parentTypes : narrowed(parentTypes, condition), isRoot);
          break;
        }
        case Kind.FRAGMENT_SPREAD: {
          const fragment = fragments.get(selection.name.value);
          if (fragment === undefined) {
            understood = false;
            return;
          }
          const within = narrowed(parentTypes, fragment.typeCondition.name.value);
          const key = `${fragment.name.value}@${within.join(',')}@${isRoot}`;
          if (visitedFragments.has(key)) continue;
          visitedFragments.add(key);
          walk(fragment.selectionSet, within, isRoot);
          break;
        }
      }
    }
  };
  const narrowed = (parentTypes: readonly string[], condition: string): string[] => {
    const possible = hints.type(condition)?.possibleTypes;
    if (possible === undefined) {
      understood = false;
      return [];
    }
    return parentTypes.filter((parent) => possible.includes(parent));
  };
  const entities = (selectionSet: SelectionSetNode | undefined) => {
    let entityMaxAge: number | undefined;
    let entityScope: CacheScope | undefined;
    for (const selection of selectionSet?.selections ?? []) {
      if (selection.kind !== Kind.INLINE_FRAGMENT || selection.typeCondition === undefined) {
        if (selection.kind === Kind.FIELD && selection.name.value === '__typename') continue;
        understood = false;
        return;
      }
      const typename = selection.typeCondition.name.value;
      const type = hints.type(typename);
      if (type === undefined || type.kind === 'leaf') {
        understood = false;
        return;
      }
      if (type.hint.maxAge !== undefined && (entityMaxAge === undefined || type.hint.maxAge < entityMaxAge)) entityMaxAge = type.hint.maxAge;
      if (type.hint.scope !== undefined && entityScope !== 'PRIVATE') entityScope = type.hint.scope;
      walk(selection.selectionSet, type.possibleTypes, false);
    }
    restrict({ maxAge: entityMaxAge ?? 0, ...(entityScope === undefined ? {} : { scope: entityScope }) });
  };

  walk(operation.selectionSet, [root], true);
  if (!understood) return undefined;
  return { operation: operation.operation, maxAge: maxAge ?? 0, scope: scope ?? 'PUBLIC', types: [...types].sort() };
}

/** One field's policy (Apollo's `willResolveField`, with defaultMaxAge 0); `typeHint` is undefined for a leaf. */
function fieldPolicy(fieldHint: CacheHint, typeHint: CacheHint | undefined, isRoot: boolean): CacheHint {
  let maxAge: number | undefined;
  let scope: CacheScope | undefined;
  let inherit = false;
  if (typeHint !== undefined) {
    maxAge = typeHint.maxAge;
    scope = typeHint.scope;
    inherit = typeHint.inheritMaxAge === true;
  }
  if (fieldHint.inheritMaxAge === true && maxAge === undefined) {
    inherit = true;
    if (fieldHint.scope !== undefined) scope = fieldHint.scope;
  } else {
    if (fieldHint.maxAge !== undefined) maxAge = fieldHint.maxAge;
    if (fieldHint.scope !== undefined) scope = fieldHint.scope;
  }
  if (maxAge === undefined && ((typeHint !== undefined && !inherit) || isRoot)) maxAge = 0;
  return { ...(maxAge === undefined ? {} : { maxAge }), ...(scope === undefined ? {} : { scope }) };
}

/** Whether a fetch may be shared between callers and cached: every field PUBLIC, and a maxAge above 0. */
export function isPublic(policy: CachePolicy | undefined): policy is CachePolicy & { operation: 'query' } {
  return policy !== undefined && policy.operation === 'query' && policy.scope === 'PUBLIC' && policy.maxAge > 0;
}
