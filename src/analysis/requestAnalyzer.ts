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

/** Variable sets whose analysis is kept per operation, at most (the oldest goes first). */
const VARIABLE_SETS_PER_OPERATION = 16;
/** Variables larger than this (as JSON) are analysed anew each time: keeping them would cost more than it saves. */
const MAX_VARIABLES_KEY = 1_024;

/**
 * The key of a set of variables whose values are all scalars (ids, `first: 10`: what most requests send), or undefined
 * for any other: lists and input objects are analysed anew each time, never serialised (a variable nested 5,000 deep
 * would overflow JSON.stringify's stack).
 */
function variablesKey(variables: Record<string, unknown> | undefined): string | undefined {
  if (variables === undefined) return '';
  for (const value of Object.values(variables)) if (typeof value === 'object' && value !== null) return undefined;
  const key = JSON.stringify(variables);
  return key.length <= MAX_VARIABLES_KEY ? key : undefined;
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
  // The analysis is a function of the schema, the operation and the variables: requests that send the same ones share
  // it (Apollo hands every request with the same text the same parsed operation). Kept with the operation, so it goes
  // when Apollo drops the document; a few variable sets per operation, and none larger than MAX_VARIABLES_KEY.
  const shared = new WeakMap<GraphQLSchema, WeakMap<OperationDefinitionNode, Map<string, OperationAnalysis | undefined>>>();
  const sharedFor = (schema: GraphQLSchema, operation: OperationDefinitionNode) => {
    let bySchema = shared.get(schema);
    if (bySchema === undefined) shared.set(schema, (bySchema = new WeakMap()));
    let byVariables = bySchema.get(operation);
    if (byVariables === undefined) bySchema.set(operation, (byVariables = new Map()));
    return byVariables;
  };

  return {
    analyze({ schema, document, operation, variables, context }) {
      const known = analyses.get(context);
      if (known !== undefined && known.operation === operation) return known.analysis;
      const key = variablesKey(variables);
      const byVariables = key !== undefined ? sharedFor(schema, operation) : undefined;
      let analysis: OperationAnalysis | undefined;
      if (key !== undefined && byVariables?.has(key)) {
        analysis = byVariables.get(key);
      } else {
        const coerced = coercedVariables(schema, operation, variables);
        analysis =
          coerced === undefined
            ? undefined
            : analyzeOperation({ schema, operation, fragments: fragmentsOf(document), variables: coerced, model: modelFor(schema), defaults: options.defaults });
        if (key !== undefined && byVariables !== undefined) {
          if (byVariables.size >= VARIABLE_SETS_PER_OPERATION) byVariables.delete(byVariables.keys().next().value as string);
          byVariables.set(key, analysis);
        }
      }
      analyses.set(context, { operation, analysis });
      return analysis;
    },
  };
}
