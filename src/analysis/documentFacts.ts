import { Kind, type DocumentNode, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

/** What the document alone says about each of its operations. */
export interface OperationFacts {
  /**
   * The deepest nesting of a selection, fragments expanded, as graphql-depth-limit counts it: a root field is at
   * level 0, the fields it selects at 1, and so on; introspection fields (`__schema`, `__type`) are not entered.
   */
  depth: number;
  /** Field selections at the root, inline fragments and each named fragment counted once. */
  rootFields: number;
}

/** Facts about a document that need neither the schema nor the variables, computed in one pass over it. */
export interface DocumentFacts {
  operations: ReadonlyMap<OperationDefinitionNode, OperationFacts>;
  /** Aliases written in the document (each counted where it is written, not per spread). */
  aliases: number;
  /** Directives written in the document. */
  directives: number;
  /** Aliases beginning with `__`, which the gateway reserves for itself. */
  reservedAliases: readonly FieldNode[];
  /** Selections looked at, for tests that prove the work is linear in the document's size. */
  steps: number;
}

/**
 * Counts what the document limits need, in time linear in the size of the document: each fragment's depth is
 * computed once and reused at every spread (memoised by name), so `{ ...F20 }` where every `Fi` spreads `F(i-1)`
 * twice costs 21 fragment visits, not 2^20. A spread of an unknown fragment, or a fragment cycle, contributes nothing:
 * graphql-js's own rules (KnownFragmentNames, NoFragmentCycles) refuse such documents in the same validation.
 */
export function documentFacts(document: DocumentNode): DocumentFacts {
  const fragments = new Map<string, FragmentDefinitionNode>();
  const operations: OperationDefinitionNode[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    else if (definition.kind === Kind.OPERATION_DEFINITION) operations.push(definition);
  }

  let steps = 0;
  let aliases = 0;
  let directives = 0;
  const reservedAliases: FieldNode[] = [];
  // The written counts: one pass over every selection set as it stands in the document, spreads not followed.
  const countWritten = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      steps += 1;
      directives += selection.directives?.length ?? 0;
      if (selection.kind === Kind.FIELD) {
        if (selection.alias !== undefined) {
          aliases += 1;
          if (selection.alias.value.startsWith('__')) reservedAliases.push(selection);
        }
        if (selection.selectionSet !== undefined) countWritten(selection.selectionSet);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        countWritten(selection.selectionSet);
      }
    }
  };
  for (const definition of [...operations, ...fragments.values()]) {
    directives += definition.directives?.length ?? 0;
    if (definition.kind === Kind.OPERATION_DEFINITION) {
      for (const variable of definition.variableDefinitions ?? []) directives += variable.directives?.length ?? 0;
    }
    countWritten(definition.selectionSet);
  }

  // Depth below a selection set, fragments expanded; memoised per fragment. `null` marks a fragment being computed:
  // met again, it is a cycle, which counts as nothing here.
  const fragmentDepth = new Map<string, number | null>();
  const depthOf = (selectionSet: SelectionSetNode): number => {
    let deepest = 0;
    for (const selection of selectionSet.selections) {
      steps += 1;
      let depth = 0;
      if (selection.kind === Kind.FIELD) {
        if (selection.selectionSet !== undefined && !selection.name.value.startsWith('__')) depth = 1 + depthOf(selection.selectionSet);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        depth = depthOf(selection.selectionSet);
      } else {
        const name = selection.name.value;
        const known = fragmentDepth.get(name);
        if (known !== undefined) depth = known ?? 0;
        else {
          const fragment = fragments.get(name);
          if (fragment !== undefined) {
            fragmentDepth.set(name, null);
            depth = depthOf(fragment.selectionSet);
            fragmentDepth.set(name, depth);
          }
        }
      }
      if (depth > deepest) deepest = depth;
    }
    return deepest;
  };

  const rootFieldsOf = (operation: OperationDefinitionNode): number => {
    const seen = new Set<string>();
    let count = 0;
    const visit = (selectionSet: SelectionSetNode): void => {
      for (const selection of selectionSet.selections) {
        steps += 1;
        if (selection.kind === Kind.FIELD) count += 1;
        else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
        else if (!seen.has(selection.name.value)) {
          seen.add(selection.name.value);
          const fragment = fragments.get(selection.name.value);
          if (fragment !== undefined) visit(fragment.selectionSet);
        }
      }
    };
    visit(operation.selectionSet);
    return count;
  };

  const facts = new Map<OperationDefinitionNode, OperationFacts>();
  for (const operation of operations) facts.set(operation, { depth: depthOf(operation.selectionSet), rootFields: rootFieldsOf(operation) });
  return { operations: facts, aliases, directives, reservedAliases, steps };
}
