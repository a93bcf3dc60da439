import { createHash } from 'node:crypto';
import { GraphQLError, print, type DocumentNode, type FieldNode, type GraphQLSchema } from 'graphql';
import type { OperationAnalysis } from '../analysis/operationAnalysis.js';
import type { RequestAnalyzer } from '../analysis/requestAnalyzer.js';
import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GatewayExecutor, GatewayGraphQLRequestContext, GatewayInterface } from '@apollo/server-gateway-interface';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { ErrorCode, policyError, unresolvedOperation } from '../errors.js';
import type { Logger } from '../common/logger.js';
import type { AuthzContext } from './authzContext.js';
import { checkOperation, type OperationCheck } from './checkOperation.js';
import { compilePolicy, type CompiledPolicy, type Policy } from './compilePolicy.js';
import { entityFetcher } from './entityFetcher.js';
import type { SupergraphFacts } from '../supergraph/supergraphFacts.js';
import { filterResult } from './resultFilter.js';
import { AUTHZ_ALIAS_PREFIX, rewriteDocument } from './rewriteDocument.js';
import { createRewrittenExecution, type RewrittenExecution } from './rewrittenExecution.js';
import { answerIntrospection, introspectionOf, withVisibleIntrospection } from './visibleIntrospection.js';
import { visibleSchemas, type VisibleSchemas } from './visibleSchema.js';

export interface AuthorizationOptions {
  policy: Policy;
  /** `remove`: a denied query field is left out and reported (partial result). `reject`: the whole operation is refused. */
  deniedQueryFields: 'remove' | 'reject';
  logger: Logger;
  /** The gateway's data source per subgraph, for rules that look data up. */
  dataSource: (subgraph: string) => RemoteGraphQLDataSource<GatewayContext> | undefined;
  /** The request's one analysis, whose selected fields the check walks. */
  analyzer: RequestAnalyzer;
  /**
   * Told what the check cost and decided, once it is done: `admitted` just before the operation runs (the rate
   * limiter charges its cost then, and may throw to refuse it), or not (refused by the policy: only what the check
   * itself did is charged). `lookups` counts the subgraph requests the rules made to decide (an ownership rule
   * looking a review's author up): work done for the caller whatever the outcome.
   */
  charge?: (requestContext: GatewayGraphQLRequestContext<GatewayContext>, outcome: { analysis: OperationAnalysis; lookups: number; admitted: boolean }) => Promise<void>;
  /** The size of the plan cache for rewritten operations (see `createRewrittenExecution`). */
  planCacheMiB: number;
  /** Told of every plan a rewritten operation looked up, as the gateway's own `experimental_didResolveQueryPlan`. */
  onPlan?: (requestContext: GatewayGraphQLRequestContext<GatewayContext>, hit: boolean) => void;
}

/** Everything authorization derives from one supergraph, built when it loads. */
interface SchemaState {
  policy: CompiledPolicy;
  execution: RewrittenExecution;
  owner: (typename: string, field: string) => string | undefined;
  /** Each caller's view of the schema, which introspection answers from. */
  views: VisibleSchemas;
}

/**
 * Wraps the Apollo Gateway so that the access policy decides, although the gateway runs a query plan and no resolver
 * on its schema ever runs (which is why graphql-shield applied to that schema does nothing: apollo-server#3274).
 *
 * Before the plan runs, every selected field is checked (`checkOperation`). A denial inside a mutation, or any denial
 * in `reject` mode, refuses the operation with 403 before a subgraph is called. Otherwise denied fields are removed
 * from the document the gateway plans, and fields whose rule needs the parent object get the fields it reads added.
 * After the plan ran, the client's own document is executed over the result (`createResultFilter`): denied and
 * guarded fields become null with a FORBIDDEN error at their path. An operation with nothing denied or guarded runs
 * untouched.
 *
 * The per-schema state is built at every supergraph load, from the facts the gateway computed once for it (`prepare`).
 * If it cannot be built, every operation on that schema is refused: the policy fails closed.
 */
export function authorizedGateway(
  inner: GatewayInterface,
  options: AuthorizationOptions,
): GatewayInterface & {
  prepare(facts: SupergraphFacts): void;
  prime(apiSchema: GraphQLSchema, documents: ReadonlyMap<string, DocumentNode>): void;
  /** The caller's view of a served schema (what their introspection answers); undefined: nothing of Query, or unknown. */
  viewOf(apiSchema: GraphQLSchema, principal: Principal): Promise<GraphQLSchema | undefined>;
} {
  const { logger } = options;
  const states = new WeakMap<GraphQLSchema, SchemaState | Error>();

  const prepare = ({ apiSchema, document, sdl, subgraphNames, owner }: SupergraphFacts): void => {
    try {
      const policy = compilePolicy(apiSchema, document, options.policy);
      const execution = createRewrittenExecution({
        sdl,
        apiSchema,
        policy,
        subgraphNames,
        dataSource: options.dataSource,
        planCacheMiB: options.planCacheMiB,
        logger,
        ...(options.onPlan === undefined ? {} : { onPlan: options.onPlan }),
      });
      states.set(apiSchema, { policy, execution, owner, views: visibleSchemas(apiSchema, policy) });
      for (const warning of policy.warnings) logger.warn({ warning }, 'access policy');
      const log = policy.uncovered.length > 0 ? logger.warn.bind(logger) : logger.info.bind(logger);
      log({ deniedByFallback: policy.uncovered.length, fields: policy.uncovered }, `${policy.uncovered.length} fields have no rule and fall back to deny`);
    } catch (error) {
      states.set(apiSchema, error as Error);
      logger.error({ err: error }, 'the access policy could not be applied to this supergraph: every operation is refused until it can');
    }
  };

  const wrap = (execute: GatewayExecutor): GatewayExecutor => async (requestContext) => {
    const state = states.get(requestContext.schema);
    if (state === undefined || state instanceof Error) {
      throw new GraphQLError('Internal server error', { extensions: { code: ErrorCode.InternalServerError, http: { status: 500 } } });
    }
    const { document, operation } = requestContext;
    // No operation resolved (an operationName of "" makes graphql-js find none, while the planner still runs the only
    // one): nothing was checked, so nothing runs.
    if (operation === undefined) throw unresolvedOperation();
    const context = requestContext.context as GatewayContext;
    // Introspection answers with the schema as this caller may see it, never as the plan would (from the whole API
    // schema); whether the caller may introspect at all was decided before (plugins/introspectionAccess.ts).
    const introspection = introspectionOf(document, operation);
    if (introspection.kind !== 'none') {
      const view = await state.views.of(context.principal ?? ANONYMOUS);
      const variables = requestContext.request.variables;
      if (introspection.kind === 'only') return answerIntrospection({ view, document, operationName: requestContext.operationName ?? undefined, variables });
      return withVisibleIntrospection(await authorize(requestContext, state, execute), { view, document, operation, fields: introspection.fields, variables });
    }
    return authorize(requestContext, state, execute);
  };

  /** The operation under the policy: checked, rewritten where fields are denied or guarded, run, filtered. */
  const authorize = async (requestContext: Parameters<GatewayExecutor>[0], state: SchemaState, execute: GatewayExecutor): ReturnType<GatewayExecutor> => {
    const { document, operation } = requestContext;
    if (operation === undefined) throw unresolvedOperation();
    const context = requestContext.context as GatewayContext;
    const analysis = options.analyzer.analyze({ schema: requestContext.schema, document, operation, variables: requestContext.request.variables, context });
    // Variables that do not coerce are reported by the gateway's own check, in the executor below.
    if (analysis === undefined) return execute(requestContext);

    const gatewayRequest = requestContext as GatewayGraphQLRequestContext<GatewayContext>;
    const fetchEntity = entityFetcher({ owner: state.owner, dataSource: options.dataSource, requestContext: gatewayRequest });
    let lookups = 0;
    const authz: AuthzContext = {
      principal: context.principal ?? ANONYMOUS,
      requestId: context.requestId,
      fetchEntity: (entity) => {
        lookups += 1;
        return fetchEntity(entity);
      },
      _shield: { cache: {} },
      onRuleError: (error, rule) => logger.error({ err: error, rule, requestId: context.requestId }, 'an access rule threw: the field is denied'),
    };
    const check = await checkOperation({ schema: requestContext.schema, analysis, policy: state.policy, context: authz });

    const firstDenial = check.denied.values().next().value;
    if (firstDenial !== undefined && (operation.operation === 'mutation' || options.deniedQueryFields === 'reject')) {
      // Nothing runs: a mutation is all or nothing, and `reject` mode says so for queries too.
      await options.charge?.(gatewayRequest, { analysis, lookups, admitted: false });
      throw policyError(new GraphQLError(firstDenial.message, { extensions: { ...firstDenial.extensions, http: { status: 403 } } }));
    }
    await options.charge?.(gatewayRequest, { analysis, lookups, admitted: true });
    if (check.denied.size === 0 && check.guarded.size === 0) {
      // A trusted document was planned when the list loaded: it runs on that plan, as it came.
      if (state.execution.primed(requestContext.queryHash)) return state.execution.execute(gatewayRequest, { planned: document, shaping: document }, requestContext.queryHash);
      return execute(requestContext);
    }

    const documents = rewriteDocument(document, check);
    const response = await state.execution.execute(gatewayRequest, documents, rewrittenHash(requestContext.queryHash, check, documents.planned));
    const subgraphErrors = withoutAddedFields(response.errors, (error) => logger.warn({ err: error, requestId: context.requestId }, 'a field fetched for an access rule failed: the rule sees it missing'));
    if (response.data === undefined || response.data === null) return { ...response, ...(subgraphErrors === undefined ? {} : { errors: subgraphErrors }) };
    const filtered = await filterResult({ schema: requestContext.schema, analysis, check, policy: state.policy, authz, data: response.data });
    const denial = filtered.errors.find((error) => error.extensions['code'] === ErrorCode.Forbidden);
    // A mutation has run by now: its answer, with the denied fields null, is all the caller can get of it (a 403 would
    // say it did not run, and a retry would run it again).
    if (denial !== undefined && options.deniedQueryFields === 'reject' && operation.operation !== 'mutation') {
      // Decided on the data: the plan ran (a query, so nothing changed), but the caller gets none of it.
      throw policyError(new GraphQLError(denial.message, { extensions: { ...denial.extensions, http: { status: 403 } } }));
    }
    const errors = [...(subgraphErrors ?? []), ...filtered.errors];
    const extensions = withoutAddedCompletionErrors(response.extensions);
    const { extensions: _, errors: __, ...rest } = response;
    return { ...rest, data: filtered.data, ...(errors.length > 0 ? { errors } : {}), ...(extensions === undefined ? {} : { extensions }) };
  };

  return {
    prepare,
    async viewOf(apiSchema, principal) {
      const state = states.get(apiSchema);
      return state === undefined || state instanceof Error ? undefined : state.views.of(principal);
    },
    prime(apiSchema, documents) {
      const state = states.get(apiSchema);
      if (state !== undefined && !(state instanceof Error)) state.execution.prime(documents);
    },
    async load(loadOptions) {
      const loaded = await inner.load(loadOptions);
      return { ...loaded, executor: loaded.executor === null ? null : wrap(loaded.executor) };
    },
    onSchemaLoadOrUpdate: (callback) => inner.onSchemaLoadOrUpdate(callback),
    stop: () => inner.stop(),
  };
}

/**
 * A hash for the rewritten document, derived from the original's and from what the check changed (the source
 * positions of removed and guarded fields and of the selection sets that gained fields). The rewrite is a function of
 * exactly these, so equal hashes mean equal documents, without printing the document on every request.
 */
function rewrittenHash(queryHash: string, check: OperationCheck, planned: DocumentNode): string {
  const nodes = [...check.removed, ...check.reads.keys(), ...check.typenames];
  // A document parsed without locations has no positions to go on: hash the printed rewrite instead.
  if (nodes.some((node) => node.loc === undefined)) return createHash('sha256').update(print(planned)).digest('hex');
  const positions = (of: Iterable<{ loc?: { start: number } | undefined }>) => [...of].map((node) => node.loc?.start).sort((a = 0, b = 0) => a - b).join(',');
  const added = [...check.reads]
    .map(([selectionSet, byType]) => {
      const reads = (of: Set<FieldNode>) => [...of].map((read) => print(read)).sort().join('+');
      return `${selectionSet.loc?.start}:${[...byType].map(([type, { direct, wrapped }]) => `${type}=${reads(direct)}/${reads(wrapped)}`).sort().join(';')}`;
    })
    .sort()
    .join(',');
  return createHash('sha256').update(`${queryHash}|r${positions(check.removed)}|a${added}|t${positions(check.typenames)}`).digest('hex');
}

/** Whether an error's path passes through a field the gateway added for a rule (the client never asked for it). */
function inAddedField(path: readonly (string | number)[] | undefined): boolean {
  return path?.some((key) => typeof key === 'string' && key.startsWith(AUTHZ_ALIAS_PREFIX)) ?? false;
}

/**
 * The subgraphs' errors without those in fields fetched only for rules: the client did not select them, so it gets
 * no error for them (each is logged); the rule sees the field missing and decides.
 */
function withoutAddedFields(errors: readonly GraphQLError[] | undefined, log: (error: GraphQLError) => void): GraphQLError[] | undefined {
  if (errors === undefined) return undefined;
  const kept = errors.filter((error) => {
    if (!inAddedField(error.path)) return true;
    log(error);
    return false;
  });
  return kept.length > 0 ? kept : undefined;
}

/** The gateway reports value completion problems in `extensions.valueCompletion`: those of added fields go too. */
function withoutAddedCompletionErrors(extensions: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const completion = extensions?.['valueCompletion'];
  if (extensions === undefined || !Array.isArray(completion)) return extensions;
  const kept = completion.filter((error: { path?: (string | number)[] }) => !inAddedField(error.path));
  if (kept.length === completion.length) return extensions;
  const { valueCompletion: _, ...rest } = extensions;
  return kept.length > 0 ? { ...rest, valueCompletion: kept } : Object.keys(rest).length > 0 ? rest : undefined;
}
