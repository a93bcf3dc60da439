import {
  buildASTSchema,
  execute,
  isAbstractType,
  isObjectType,
  parse,
  printSchema,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFieldResolver,
  type GraphQLSchema,
} from 'graphql';
import type { AuthzContext } from './authzContext.js';
import type { OperationCheck } from './checkOperation.js';
import type { CompiledPolicy } from './compilePolicy.js';
import { AUTHZ_ALIAS_PREFIX } from './rewriteDocument.js';
import { evaluateRule } from './ruleEvaluation.js';

interface FilterContext {
  check: OperationCheck;
  authz: AuthzContext;
}

/** Runs the client's document over the gateway's result, to decide what the check before execution could not. */
export type ResultFilter = (input: {
  document: DocumentNode;
  operationName: string | undefined;
  variables: Record<string, unknown> | undefined;
  data: Record<string, unknown>;
  check: OperationCheck;
  authz: AuthzContext;
}) => Promise<ExecutionResult>;

/**
 * Builds, once per schema, a copy of the API schema whose resolvers read the gateway's result instead of fetching:
 * each field returns `source[responseKey]` (aliases included). A field denied before execution resolves to its
 * FORBIDDEN error; a guarded field runs its rule on the real parent object (the fields the rule reads come from
 * their `__authz_` aliases). graphql-js then puts each error at its exact path and propagates nulls by GraphQL's
 * rules, and the client's original document decides the shape: the added aliases are never returned.
 */
export function createResultFilter(apiSchema: GraphQLSchema, policy: CompiledPolicy): ResultFilter {
  const schema: GraphQLSchema = buildASTSchema(parse(printSchema(apiSchema)));
  for (const type of Object.values(schema.getTypeMap())) {
    if (isAbstractType(type)) {
      type.resolveType = (value) => {
        const source = value as Record<string, unknown>;
        return (source[`${AUTHZ_ALIAS_PREFIX}__typename`] ?? source['__typename']) as string | undefined;
      };
    }
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const fieldPolicy = policy.field(type, field.name);
      const resolve: GraphQLFieldResolver<Record<string, unknown>, FilterContext> = (source, args, context, info) => {
        const node = info.fieldNodes[0];
        if (node !== undefined) {
          const denied = context.check.denied.get(node);
          if (denied !== undefined) throw denied;
          if (context.check.guarded.has(node)) {
            const parent: Record<string, unknown> = {};
            // Only what the gateway fetched under its own alias: a client alias can never stand in for it (client
            // aliases beginning with __ are refused in validation).
            for (const read of fieldPolicy.parentFields) parent[read] = source[`${AUTHZ_ALIAS_PREFIX}${read}`];
            return evaluateRule(fieldPolicy.rule, parent, args, context.authz, info, policy.options).then((decision) => {
              if (decision.kind === 'allow') return source[info.path.key as string];
              if (decision.kind === 'deny') throw decision.error;
              throw new Error(`rule of ${type.name}.${field.name} undecided with its parent present`);
            });
          }
        }
        return source[info.path.key as string];
      };
      field.resolve = resolve as GraphQLFieldResolver<unknown, unknown>;
    }
  }

  return async ({ document, operationName, variables, data, check, authz }) => {
    const result = await execute({
      schema,
      document,
      rootValue: data,
      contextValue: { check, authz } satisfies FilterContext,
      variableValues: variables,
      operationName,
    });
    return result as ExecutionResult;
  };
}
