import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import type { GatewayContext } from '../context.js';
import { isClientErrorCode } from '../errors.js';
import type { Logger } from '../common/logger.js';

/** Longest message kept in a log line: messages can quote the client's document (field and fragment names). */
const MESSAGE_EXCERPT = 200;

/**
 * Logs the errors of a GraphQL request under the request id, before `formatError` masks what the client sees, so
 * that a client who quotes its `x-request-id` can be helped without the gateway ever sending internals. What a log
 * line holds is bounded whatever the client sends:
 * - the client's own mistakes and refusals (parse, validation, limits, access, rate) are one `debug` line per
 *   request, with their codes, their number and one excerpt: no stack traces, and an attacker's 100 unknown
 *   directives cost one short line (the metrics count every refusal);
 * - failures of the gateway or a subgraph are logged in full (`warn`), at most `maxErrors` of them per request.
 */
export function errorLogging(logger: Logger, maxErrors: number): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue, operationName }) {
          const requestId = contextValue.requestId;
          // Errors raised inside the gateway's executor are not always GraphQLErrors: no `extensions` to rely on.
          const codeOf = (error: GraphQLError) => error.extensions?.['code'];
          const client = errors.filter((error) => isClientErrorCode(codeOf(error)));
          const failures = errors.filter((error) => !isClientErrorCode(codeOf(error)));
          if (client.length > 0) {
            const first = client[0] as GraphQLError;
            logger.debug(
              {
                requestId,
                operationName: excerpt(operationName ?? undefined),
                codes: [...new Set(client.map((error) => String(codeOf(error)) + reasonOf(error)))].slice(0, maxErrors),
                errors: client.length,
              },
              `request refused: ${excerpt(first.message)}`,
            );
          }
          for (const error of failures.slice(0, maxErrors)) {
            logger.warn({ requestId, operationName: excerpt(operationName ?? undefined), code: codeOf(error), path: error.path, err: error.originalError ?? error, extensions: error.extensions }, excerpt(error.message));
          }
          if (failures.length > maxErrors) logger.warn({ requestId, omitted: failures.length - maxErrors }, 'more errors in this request were not logged');
        },
      };
    },
  };
}

function reasonOf(error: GraphQLError): string {
  const reason = error.extensions?.['validationErrorCode'];
  return typeof reason === 'string' ? `:${reason}` : '';
}

function excerpt(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  return text.length <= MESSAGE_EXCERPT ? text : `${text.slice(0, MESSAGE_EXCERPT)}…`;
}
