import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context.js';
import { ErrorCode } from '../errors.js';

/**
 * At most `maxErrors` errors in one answer: the last one kept says how many more there were. graphql-js stops
 * validating after as many (`validationOptions.maxErrors`), but execution can report an error per list element, and a
 * 229-byte document once earned a 12.9 KB answer.
 */
export function errorCap(maxErrors: number): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors;
          if (errors === undefined || errors.length <= maxErrors) return;
          const kept = errors.slice(0, maxErrors - 1);
          response.body.singleResult.errors = [
            ...kept,
            { message: `${errors.length - kept.length} more errors were left out of this answer`, extensions: { code: ErrorCode.TooManyErrors } },
          ];
        },
      };
    },
  };
}
