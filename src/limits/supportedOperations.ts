import { GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';

/**
 * Refuses operations this gateway cannot run, during validation: graphql-js validates `subscription { x }` on a
 * schema without a Subscription type (only execution notices, as a 500), and the gateway serves no subscriptions
 * over HTTP even where the supergraph declares them.
 */
export const supportedOperationsRule: ValidationRule = (context: ValidationContext) => ({
  OperationDefinition(operation) {
    const root = context.getSchema().getRootType(operation.operation);
    if (operation.operation === 'subscription' || root === undefined || root === null) {
      context.reportError(
        new GraphQLError(`This gateway does not serve ${operation.operation} operations`, {
          nodes: [operation],
          extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED, validationErrorCode: 'OPERATION_NOT_SUPPORTED' },
        }),
      );
    }
    return false;
  },
});
