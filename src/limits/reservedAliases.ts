import { GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';

/**
 * Aliases beginning with `__` are the gateway's: it fetches what access rules read under `__authz_` aliases, and a
 * client alias of that name would put the client's choice of value where a rule expects the object's own. GraphQL
 * reserves `__` names for introspection anyway; no client needs such an alias.
 */
export const reservedAliasesRule: ValidationRule = (context: ValidationContext) => ({
  Field(node) {
    if (node.alias?.value.startsWith('__')) {
      context.reportError(
        new GraphQLError(`The alias "${node.alias.value}" is reserved: aliases must not begin with "__"`, {
          nodes: [node.alias],
          extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED, validationErrorCode: 'RESERVED_ALIAS' },
        }),
      );
    }
  },
});
