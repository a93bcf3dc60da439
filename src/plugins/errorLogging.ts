import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context.js';
import type { Logger } from '../logger.js';

/**
 * Logs every error of a GraphQL request in full, under the request id, before `formatError` masks what the client
 * sees. A client who quotes its `x-request-id` can be helped without the gateway ever sending internals.
 */
export function errorLogging(logger: Logger): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue, operationName }) {
          for (const error of errors) {
            // Errors raised inside the gateway's executor are not always GraphQLErrors: no `extensions` to rely on.
            const code = error.extensions?.['code'];
            // Request errors (parse, validation) are the client's; subgraph and execution failures are ours.
            const level = code === 'GRAPHQL_PARSE_FAILED' || code === 'GRAPHQL_VALIDATION_FAILED' || code === 'BAD_USER_INPUT' ? 'info' : 'warn';
            logger[level](
              { requestId: contextValue.requestId, operationName, code, path: error.path, err: error.originalError ?? error, extensions: error.extensions },
              error.message,
            );
          }
        },
      };
    },
  };
}
