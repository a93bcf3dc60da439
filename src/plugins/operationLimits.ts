import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { coercedVariables, fragmentsOf } from '../graphqlSelections.js';
import { unresolvedOperation } from '../errors.js';
import type { LimitsConfig } from '../config.js';
import type { GatewayContext } from '../context.js';
import { costModel, type CostModel } from '../limits/costModel.js';
import { estimateCost } from '../limits/estimateCost.js';
import { LimitCode, limitExceeded } from '../limits/limitExceeded.js';

export interface OperationLimitsOptions {
  limits: LimitsConfig;
  showValues: boolean;
  /** The supergraph SDL a served schema was built from (for @cost and @listSize). */
  supergraphOf: (schema: GraphQLSchema) => string | undefined;
}

/**
 * The limits that need the variables, checked once the operation is resolved and before anything runs: the cost
 * estimate (a huge `first: $n` counts) and the per-field caps (a field selected under several aliases counts each
 * time). The estimate is left on the context for the rate limiter.
 */
export function operationLimits({ limits, showValues, supergraphOf }: OperationLimitsOptions): ApolloServerPlugin<GatewayContext> {
  const models = new WeakMap<GraphQLSchema, CostModel>();
  const modelFor = (schema: GraphQLSchema): CostModel => {
    let model = models.get(schema);
    if (model === undefined) {
      model = costModel(supergraphOf(schema) ?? 'scalar _NoSupergraph');
      models.set(schema, model);
    }
    return model;
  };
  const capped = Object.keys(limits.fieldCaps).length > 0;

  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, schema, request, contextValue }) {
          // Fails closed: the executor would still run the only operation of the document (see unresolvedOperation).
          if (operation === undefined) throw unresolvedOperation();
          const coerced = coercedVariables(schema, operation, request.variables);
          // Variables that do not coerce fail before execution, and nothing runs: no estimate needed.
          if (coerced === undefined) return;
          const fragments = fragmentsOf(document);
          const fieldCounts = capped ? new Map<string, number>() : undefined;
          let cost: number;
          try {
            cost = estimateCost({ schema, operation, fragments, variables: coerced, model: modelFor(schema), defaults: { listSize: limits.defaultListSize }, fieldCounts });
          } catch (error) {
            // graphql-js refuses some argument values only when it reads them (null for a non-null argument given
            // through a variable with a default): the client's mistake, a 400.
            if (error instanceof GraphQLError) throw new GraphQLError(error.message, { nodes: error.nodes, extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
            throw error;
          }
          contextValue.cost = cost;
          if (limits.maxCost > 0 && cost > limits.maxCost) {
            throw limitExceeded(LimitCode.Cost, 'estimated cost', limits.maxCost, cost, { showValues, http400: true, nodes: [operation] });
          }
          for (const [field, cap] of Object.entries(limits.fieldCaps)) {
            const count = fieldCounts?.get(field) ?? 0;
            if (count > cap) throw limitExceeded(LimitCode.FieldCap, `number of ${field} selections`, cap, count, { showValues, http400: true, nodes: [operation] });
          }
        },
      };
    },
  };
}
