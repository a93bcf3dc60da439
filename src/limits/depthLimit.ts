import { GraphQLError, Kind, type DocumentNode, type ValidationContext, type ValidationRule } from 'graphql';
import depthLimit from 'graphql-depth-limit';
import { LimitCode, limitExceeded } from './limitExceeded.js';

/**
 * graphql-depth-limit, guarded against its known failure modes:
 * - a spread of an undefined fragment makes it throw (a 500): such documents are left to graphql's own
 *   KnownFragmentNames rule, which answers 400;
 * - a fragment cycle makes it recurse until the stack overflows: left to NoFragmentCycles, likewise;
 * - it reports an error for every branch past the limit, with the limit in the message: one error per operation
 *   is kept, in this gateway's format.
 * Fragments are expanded, so they cannot hide depth.
 */
export function depthLimitRule(maxDepth: number, showValues: boolean): ValidationRule {
  return (context: ValidationContext) => {
    const document = context.getDocument();
    if (hasUnknownFragmentOrCycle(document)) return {};
    const reported = new Set<string>();
    const guarded = Object.create(context) as ValidationContext;
    guarded.reportError = (error: GraphQLError) => {
      // graphql-depth-limit names the operation first: "'Name' exceeds maximum operation depth of N".
      const operation = /^'([^']*)'/.exec(error.message)?.[1] ?? '';
      if (reported.has(operation)) return;
      reported.add(operation);
      context.reportError(limitExceeded(LimitCode.Depth, 'depth', maxDepth, maxDepth + 1, { showValues, nodes: error.nodes }));
    };
    depthLimit(maxDepth)(guarded);
    return {};
  };
}

function hasUnknownFragmentOrCycle(document: DocumentNode): boolean {
  const fragments = new Map<string, string[]>();
  const spreadsOf = (node: unknown, into: string[]): void => {
    if (typeof node !== 'object' || node === null) return;
    const astNode = node as { kind?: string; name?: { value: string } };
    if (astNode.kind === Kind.FRAGMENT_SPREAD && astNode.name) into.push(astNode.name.value);
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) value.forEach((item) => spreadsOf(item, into));
      else if (typeof value === 'object' && value !== null && 'kind' in value) spreadsOf(value, into);
    }
  };
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      const spreads: string[] = [];
      spreadsOf(definition.selectionSet, spreads);
      fragments.set(definition.name.value, spreads);
    }
  }
  const allSpreads: string[] = [];
  spreadsOf(document, allSpreads);
  if (allSpreads.some((name) => !fragments.has(name))) return true;

  const state = new Map<string, 'visiting' | 'done'>();
  const cyclic = (name: string): boolean => {
    if (state.get(name) === 'done') return false;
    if (state.get(name) === 'visiting') return true;
    state.set(name, 'visiting');
    const found = (fragments.get(name) ?? []).some(cyclic);
    state.set(name, 'done');
    return found;
  };
  return [...fragments.keys()].some(cyclic);
}
