import { GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { documentFacts } from '../analysis/documentFacts.js';
import type { LimitsConfig } from '../config/index.js';
import { LimitCode, limitExceeded } from './limitExceeded.js';

export type DocumentLimits = Pick<LimitsConfig, 'maxDepth' | 'maxAliases' | 'maxRootFields' | 'maxDirectives'>;

/**
 * The limits decided on the document alone, from one pass over it (`documentFacts`): depth (fragments expanded, so
 * they cannot hide it), aliases and directives anywhere, root fields per operation, and the reserved `__` aliases.
 * Each limit is reported once (depth and root fields once per operation).
 *
 * Apollo Server runs this only once its own `maxRecursiveSelections` bound has passed (see gateway.ts), so the
 * document is known to be small after expansion too.
 */
export function documentLimitsRule(limits: DocumentLimits, showValues: boolean): ValidationRule {
  return (context: ValidationContext) => ({
    Document(document) {
      const facts = documentFacts(document);
      for (const field of facts.reservedAliases) context.reportError(reservedAlias(field.alias?.value ?? ''));
      if (limits.maxAliases !== 'off' && facts.aliases > limits.maxAliases) {
        context.reportError(limitExceeded(LimitCode.Aliases, 'number of aliases', limits.maxAliases, facts.aliases, { showValues, nodes: [document] }));
      }
      if (limits.maxDirectives !== 'off' && facts.directives > limits.maxDirectives) {
        context.reportError(limitExceeded(LimitCode.Directives, 'number of directives', limits.maxDirectives, facts.directives, { showValues, nodes: [document] }));
      }
      for (const [operation, { depth, rootFields }] of facts.operations) {
        if (limits.maxDepth !== 'off' && depth > limits.maxDepth) {
          context.reportError(limitExceeded(LimitCode.Depth, 'depth', limits.maxDepth, depth, { showValues, nodes: [operation] }));
        }
        if (limits.maxRootFields !== 'off' && rootFields > limits.maxRootFields) {
          context.reportError(limitExceeded(LimitCode.RootFields, 'number of root fields', limits.maxRootFields, rootFields, { showValues, nodes: [operation] }));
        }
      }
      return false;
    },
  });
}

/**
 * Aliases beginning with `__` are the gateway's: it fetches what access rules read under `__authz_` aliases, and a
 * client alias of that name would put the client's choice of value where a rule expects the object's own. GraphQL
 * reserves `__` names for introspection anyway; no client needs such an alias.
 */
function reservedAlias(alias: string): GraphQLError {
  return new GraphQLError(`The alias "${alias}" is reserved: aliases must not begin with "__"`, {
    extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED, validationErrorCode: 'RESERVED_ALIAS' },
  });
}
