import {
  Kind,
  visit,
  type ASTNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import type { OperationCheck } from './checkOperation.js';

/** Prefix of the aliases under which the gateway fetches what rules read; never part of a response. */
export const AUTHZ_ALIAS_PREFIX = '__authz_';

/** The response key under which `field`, read by a rule on `type`, is fetched: one per type, since types differ. */
export function readAlias(type: string, field: string): string {
  return `${AUTHZ_ALIAS_PREFIX}${type}__${field}`;
}

/**
 * Prefix of the fields the shaping schema adds beside each field a rule reads: the same field, nullable, so that a
 * value the rule needed and did not get is a null for the rule, never a null that spreads into the client's data.
 */
export const SHADOW_FIELD_PREFIX = 'authz__';

const TYPENAME: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } };

/** The two documents an authorised operation runs as (see `rewriteDocument`). */
export interface RewrittenDocuments {
  /** What the gateway plans and the subgraphs are asked for. */
  planned: DocumentNode;
  /** What the gateway's result shaping applies to the fetched data, against the shaping schema. */
  shaping: DocumentNode;
}

/**
 * The documents the gateway runs instead of the client's:
 * - denied fields removed (no subgraph is asked for them); a selection set left empty selects `__typename`;
 * - beside every guarded field, the fields its rule reads, under an alias no client can collide with (client aliases
 *   beginning with `__` are refused): directly where the selection set's type has the field, else under a type
 *   condition on the object type whose rule reads them (so that they are asked only of objects of that type);
 * - `__typename` where the result filter must tell an object's type and the client does not select it.
 * The shaping document is the planned one with each read field replaced by its nullable shadow.
 */
export function rewriteDocument(document: DocumentNode, check: OperationCheck): RewrittenDocuments {
  return { planned: rewrite(document, check, (_type, read) => read.name.value), shaping: rewrite(document, check, (_type, read) => `${SHADOW_FIELD_PREFIX}${read.name.value}`) };
}

function rewrite(document: DocumentNode, check: OperationCheck, fieldName: (type: string, read: FieldNode) => string): DocumentNode {
  const rewritten = visit(document, {
    SelectionSet: {
      enter(node: SelectionSetNode) {
        const reads = check.reads.get(node);
        const typename = check.typenames.has(node) && !node.selections.some(isTypename);
        if (reads === undefined && !typename) return undefined;
        const added: SelectionNode[] = [];
        for (const [type, { direct, wrapped }] of reads ?? []) {
          const aliased = (read: FieldNode): FieldNode => ({
            ...read,
            alias: { kind: Kind.NAME, value: readAlias(type, read.name.value) },
            name: { kind: Kind.NAME, value: fieldName(type, read) },
          });
          added.push(...[...direct].map(aliased));
          if (wrapped.size > 0) {
            added.push({
              kind: Kind.INLINE_FRAGMENT,
              typeCondition: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: type } },
              selectionSet: { kind: Kind.SELECTION_SET, selections: [...wrapped].map(aliased) },
            });
          }
        }
        if (typename) added.push(TYPENAME);
        return { ...node, selections: [...node.selections, ...added] };
      },
      leave(node: SelectionSetNode) {
        return node.selections.length === 0 ? { ...node, selections: [TYPENAME] } : undefined;
      },
    },
    Field: {
      enter(node: FieldNode) {
        return check.removed.has(node) ? null : undefined;
      },
    },
  });
  return check.removed.size === 0 ? rewritten : withoutUnused(rewritten);
}

/**
 * The document without the fragments and variable definitions only removed fields used: GraphQL refuses unused ones
 * (a variable that only a denied field read, a fragment spread only inside it).
 */
function withoutUnused(document: DocumentNode): DocumentNode {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const spreadsOf = new Map<ASTNode, { fragments: Set<string>; variables: Set<string> }>();
  const usesOf = (node: ASTNode) => {
    let uses = spreadsOf.get(node);
    if (uses !== undefined) return uses;
    uses = { fragments: new Set(), variables: new Set() };
    const found = uses;
    visit(node, {
      FragmentSpread: (spread) => void found.fragments.add(spread.name.value),
      Variable: (variable) => void found.variables.add(variable.name.value),
      VariableDefinition: () => false,
    });
    spreadsOf.set(node, uses);
    return uses;
  };
  // What an operation uses, through every fragment it spreads, however deep.
  const reach = (operation: OperationDefinitionNode) => {
    const seen = new Set<string>();
    const variables = new Set(usesOf(operation.selectionSet).variables);
    for (const directive of operation.directives ?? []) for (const name of usesOf(directive).variables) variables.add(name);
    const pending = [...usesOf(operation.selectionSet).fragments];
    while (pending.length > 0) {
      const name = pending.pop() as string;
      if (seen.has(name)) continue;
      seen.add(name);
      const fragment = fragments.get(name);
      if (fragment === undefined) continue;
      const uses = usesOf(fragment);
      for (const variable of uses.variables) variables.add(variable);
      pending.push(...uses.fragments);
    }
    return { fragments: seen, variables };
  };
  const usedFragments = new Set<string>();
  const definitions = document.definitions.map((definition) => {
    if (definition.kind !== Kind.OPERATION_DEFINITION) return definition;
    const { fragments: used, variables } = reach(definition);
    for (const name of used) usedFragments.add(name);
    const variableDefinitions = definition.variableDefinitions?.filter((variable) => variables.has(variable.variable.name.value));
    return variableDefinitions?.length === definition.variableDefinitions?.length ? definition : { ...definition, variableDefinitions };
  });
  return {
    ...document,
    definitions: definitions.filter((definition) => definition.kind !== Kind.FRAGMENT_DEFINITION || usedFragments.has(definition.name.value)),
  };
}

/** The client's own `__typename`, selected whatever the variables (one under @skip/@include may not be there). */
function isTypename(selection: SelectionNode): boolean {
  return selection.kind === Kind.FIELD && selection.alias === undefined && selection.name.value === '__typename' && (selection.directives?.length ?? 0) === 0;
}
