import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { coercedVariables, fragmentsOf } from './graphqlSelections.js';
import type { CostModel } from './costModel.js';
import { analyzeOperation, type CostDefaults, type OperationAnalysis } from './operationAnalysis.js';

/** The parts of a request its analysis depends on. */
export interface AnalyzedRequest {
  schema: GraphQLSchema;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown> | undefined;
  /** The request's own context object, one per request: the analysis is kept against it. */
  context: object;
}

/**
 * Analyses each request's operation once, for everyone who needs it: the limits (cost, field caps, before execution),
 * the authorization check and the rate limiter (in the executor). The analysis is a function of the request alone,
 * so whichever asks first computes it and the order of the asking does not matter.
 */
export interface RequestAnalyzer {
  /** The analysis, or undefined when the variables do not coerce (execution then reports them, and nothing runs). */
  analyze(request: AnalyzedRequest): OperationAnalysis | undefined;
}

/** A schema without a cost model (no supergraph facts): defaults alone. */
const NO_DIRECTIVES: CostModel = { fieldWeight: () => undefined, typeWeight: () => undefined, argumentWeight: () => undefined, listSize: () => undefined };

export function createRequestAnalyzer(options: {
  /** The cost directives (@cost, @listSize) of the supergraph a served schema was built from. */
  costModelOf: (schema: GraphQLSchema) => CostModel | undefined;
  defaults: CostDefaults;
}): RequestAnalyzer {
  const modelFor = (schema: GraphQLSchema): CostModel => options.costModelOf(schema) ?? NO_DIRECTIVES;
  const analyses = new WeakMap<object, { operation: OperationDefinitionNode; analysis: OperationAnalysis | undefined }>();

  return {
    analyze({ schema, document, operation, variables, context }) {
      const known = analyses.get(context);
      if (known !== undefined && known.operation === operation) return known.analysis;
      const coerced = coercedVariables(schema, operation, variables);
      const analysis =
        coerced === undefined
          ? undefined
          : analyzeOperation({ schema, operation, fragments: fragmentsOf(document), variables: coerced, model: modelFor(schema), defaults: options.defaults });
      analyses.set(context, { operation, analysis });
      return analysis;
    },
  };
}
