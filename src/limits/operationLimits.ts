import type { ApolloServerPlugin } from '@apollo/server';
import { unresolvedOperation } from '../errors.js';
import type { LimitsConfig } from '../config/index.js';
import type { GatewayContext } from '../context.js';
import type { RequestAnalyzer } from '../analysis/requestAnalyzer.js';
import { LimitCode, limitExceeded } from './limitExceeded.js';

export interface OperationLimitsOptions {
  limits: LimitsConfig;
  showValues: boolean;
  analyzer: RequestAnalyzer;
}

/**
 * The limits that need the variables, checked once the operation is resolved and before anything runs: the cost
 * estimate (a huge `first: $n` counts) and the per-field caps (a field selected under several aliases counts each
 * time). Both read the request's one analysis, which the rate limiter charges later, once the operation runs.
 */
export function operationLimits({ limits, showValues, analyzer }: OperationLimitsOptions): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, schema, request, contextValue }) {
          // Fails closed: the executor would still run the only operation of the document (see unresolvedOperation).
          if (operation === undefined) throw unresolvedOperation();
          const analysis = analyzer.analyze({ schema, document, operation, variables: request.variables, context: contextValue });
          // Variables that do not coerce fail before execution, and nothing runs.
          if (analysis === undefined) return;
          if (limits.maxCost !== 'off' && analysis.cost > limits.maxCost) {
            throw limitExceeded(LimitCode.Cost, 'estimated cost', limits.maxCost, analysis.cost, { showValues, http400: true, nodes: [operation] });
          }
          for (const [field, cap] of Object.entries(limits.fieldCaps)) {
            const count = analysis.fieldCounts.get(field) ?? 0;
            if (count > cap) throw limitExceeded(LimitCode.FieldCap, `number of ${field} selections`, cap, count, { showValues, http400: true, nodes: [operation] });
          }
        },
      };
    },
  };
}
