import { Kind, type ValidationContext, type ValidationRule } from 'graphql';
import { LimitCode, limitExceeded } from './limitExceeded.js';

/**
 * Counts that cost nothing to check on the document alone: aliases and directives anywhere in it, and root fields
 * per operation (fragments at the root included). Each is reported once.
 */
export function documentLimitRules(limits: { maxAliases: number; maxDirectives: number; maxRootFields: number }, showValues: boolean): ValidationRule[] {
  const aliases: ValidationRule = (context: ValidationContext) => {
    let count = 0;
    return {
      Field(node) {
        if (node.alias !== undefined) count += 1;
      },
      Document: {
        leave(node) {
          if (count > limits.maxAliases) context.reportError(limitExceeded(LimitCode.Aliases, 'number of aliases', limits.maxAliases, count, { showValues, nodes: [node] }));
        },
      },
    };
  };
  const directives: ValidationRule = (context: ValidationContext) => {
    let count = 0;
    return {
      Directive() {
        count += 1;
      },
      Document: {
        leave(node) {
          if (count > limits.maxDirectives) context.reportError(limitExceeded(LimitCode.Directives, 'number of directives', limits.maxDirectives, count, { showValues, nodes: [node] }));
        },
      },
    };
  };
  const rootFields: ValidationRule = (context: ValidationContext) => ({
    OperationDefinition(operation) {
      const seen = new Set<string>();
      let count = 0;
      const visit = (selections: readonly import('graphql').SelectionNode[]): void => {
        for (const selection of selections) {
          if (selection.kind === Kind.FIELD) count += 1;
          else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet.selections);
          else if (!seen.has(selection.name.value)) {
            seen.add(selection.name.value);
            const fragment = context.getFragment(selection.name.value);
            if (fragment !== undefined && fragment !== null) visit(fragment.selectionSet.selections);
          }
        }
      };
      visit(operation.selectionSet.selections);
      if (count > limits.maxRootFields) context.reportError(limitExceeded(LimitCode.RootFields, 'number of root fields', limits.maxRootFields, count, { showValues, nodes: [operation] }));
    },
  });
  return [
    ...(limits.maxAliases > 0 ? [aliases] : []),
    ...(limits.maxDirectives > 0 ? [directives] : []),
    ...(limits.maxRootFields > 0 ? [rootFields] : []),
  ];
}
