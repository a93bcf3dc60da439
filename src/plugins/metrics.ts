import type { ApolloServerPlugin } from '@apollo/server';
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
        async willSendResponse({ response, operationName, operation: resolved, errors }) {
          // Only names of operations that resolved become labels: a request refused before (a parse or validation
          // failure, never rate-limited) could otherwise fill the label set with made-up names.
          const operation = resolved === undefined ? 'unresolved' : metrics.operationLabel(operationName);
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
