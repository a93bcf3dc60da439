import type { ApolloServerPlugin } from '@apollo/server';
import { Kind } from 'graphql';
import type { GatewayContext } from '../context.js';
import { rejectionReason, type GatewayMetrics } from '../metrics/metrics.js';

/**
 * Counts every GraphQL operation by (bounded) name and outcome, times it, and counts rejections by reason: an
 * operation whose errors are all refusals (limits, rate, access) is `rejected`; one with any other error, `error`.
 */
export function metricsPlugin(metrics: GatewayMetrics): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      const started = performance.now();
      return {
        async willSendResponse({ response, operationName, document, request, errors }) {
          // A request refused in validation never resolves its operation: name it from the document then.
          const named = document?.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
          const fallback = request.operationName ?? (named?.length === 1 ? named[0]?.name?.value : undefined);
          const operation = metrics.operationLabel(operationName ?? fallback);
          const all = errors ?? (response.body.kind === 'single' ? response.body.singleResult.errors : undefined) ?? [];
          const reasons = all.map((error) => rejectionReason(error.extensions));
          // A partial result with only denied fields still answered: it counts as a success with a rejection.
          for (const reason of new Set(reasons)) if (reason !== undefined) metrics.rejections.inc({ reason });
          const outcome = all.length === 0 ? 'success' : reasons.every((reason) => reason !== undefined) ? 'rejected' : 'error';
          metrics.requests.inc({ operation, outcome });
          metrics.requestDuration.observe({ operation }, (performance.now() - started) / 1000);
        },
      };
    },
  };
}
