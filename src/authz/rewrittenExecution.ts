import { createHash } from 'node:crypto';
import { buildOperationContext, executeQueryPlan, type RemoteGraphQLDataSource } from '@apollo/gateway';
import { NonNullType, operationFromDocument, Supergraph, type FieldDefinition, type InterfaceType, type ObjectType, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type QueryPlan } from '@apollo/query-planner';
import type { GatewayExecutionResult, GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { GraphQLError, isObjectType, Kind, validate, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import type { Logger } from '../common/logger.js';
import type { GatewayContext } from '../context.js';
import { ErrorCode, policyError } from '../errors.js';
import type { CompiledPolicy } from './compilePolicy.js';
import { SHADOW_FIELD_PREFIX, type RewrittenDocuments } from './rewriteDocument.js';

/** Runs the documents an authorised operation was rewritten to (see `rewriteDocument`). */
export interface RewrittenExecution {
  /** `key` identifies the rewrite (the documents are a function of it): plans are cached under it. */
  execute(requestContext: GatewayGraphQLRequestContext<GatewayContext>, documents: RewrittenDocuments, key: string): Promise<GatewayExecutionResult>;
  /**
   * Plans documents ahead of any request (the trusted documents, by the hash of their text, which is Apollo's
   * `queryHash`) and keeps their plans for as long as this supergraph serves: replaces the previous set.
   */
  prime(documents: ReadonlyMap<string, DocumentNode>): void;
  /** Whether a document (by `queryHash`) has a plan made ahead: it runs here even when nothing is rewritten. */
  primed(queryHash: string): boolean;
}

export interface RewrittenExecutionOptions {
  /** The supergraph as @apollo/gateway loaded it, and the API schema it serves. */
  sdl: string;
  apiSchema: GraphQLSchema;
  policy: CompiledPolicy;
  subgraphNames: readonly string[];
  dataSource: (subgraph: string) => RemoteGraphQLDataSource<GatewayContext> | undefined;
  planCacheMiB: number;
  logger: Logger;
  /** Told of every plan looked up: `hit` false when it had to be built (the rate limiter charges for that). */
  onPlan?: (requestContext: GatewayGraphQLRequestContext<GatewayContext>, hit: boolean) => void;
}

/**
 * Plans and runs a rewritten operation with @apollo/gateway's own parts (its query planner, `executeQueryPlan` and
 * result shaping), but shapes the result by the shaping document against a schema of its own: the API schema plus, on
 * each object type, a nullable shadow of every field a rule reads. The fields fetched only for rules are shaped as
 * those shadows, so a null in one of them (a key that came back null, an entity that could not be resolved) stays
 * where it is: the client's fields are shaped exactly as for the client's own document.
 *
 * @apollo/gateway's executor cannot do this: it shapes by the document it planned, against the API schema. So this
 * builds a planner of its own per supergraph (from the same SDL; @apollo/query-planner is the gateway's planner) with
 * a plan cache of its own, used only by operations that were rewritten.
 *
 * The planned document is validated against the API schema before it is planned: a rewrite that would not validate,
 * or that the planner cannot plan, is refused (FORBIDDEN, fail closed) and the reason logged, never an internal error.
 */
export function createRewrittenExecution(options: RewrittenExecutionOptions): RewrittenExecution {
  const { apiSchema, logger } = options;
  const supergraph = Supergraph.build(options.sdl, { validateSupergraph: false });
  const planningSchema = supergraph.apiSchema();
  const planner = new QueryPlanner(supergraph);
  const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
  const shapingSchema = withShadowFields(planningSchema, apiSchema, options.policy);
  const plans = new InMemoryLRUCache<QueryPlan>({
    maxSize: 2 ** 20 * options.planCacheMiB,
    sizeCalculation: (plan) => Buffer.byteLength(JSON.stringify(plan), 'utf8'),
  });
  // Plans made ahead (trusted documents), by cache key: never evicted, replaced as a whole.
  let pinned = new Map<string, QueryPlan>();
  let pinnedDocuments = new Set<string>();
  const keyOf = (key: string, operationName: string | undefined) => (operationName === undefined ? key : createHash('sha256').update(key).update(operationName).digest('hex'));
  let serviceMap: Record<string, RemoteGraphQLDataSource<GatewayContext>> | undefined;
  const services = () => {
    if (serviceMap !== undefined) return serviceMap;
    const map: Record<string, RemoteGraphQLDataSource<GatewayContext>> = Object.create(null);
    for (const name of options.subgraphNames) {
      const dataSource = options.dataSource(name);
      if (dataSource === undefined) throw new Error(`no data source for subgraph ${name}`);
      map[name] = dataSource;
    }
    serviceMap = map;
    return map;
  };

  const refuse = (requestContext: GatewayGraphQLRequestContext<GatewayContext>, reason: string, details: Record<string, unknown>): never => {
    logger.error({ requestId: requestContext.context.requestId, reason, ...details }, 'the operation as rewritten for the access policy cannot run: it is refused');
    throw policyError(
      new GraphQLError('This operation could not be checked against the access policy', { extensions: { code: ErrorCode.Forbidden, http: { status: 403 } } }),
    );
  };

  return {
    async execute(requestContext, { planned, shaping }, key) {
      const operationName = requestContext.request.operationName ?? undefined;
      // As the gateway keys its own plan cache: a document with several operations has a plan per operation.
      const cacheKey = keyOf(key, operationName);
      let plan = pinned.get(cacheKey) ?? (await plans.get(cacheKey));
      options.onPlan?.(requestContext, plan !== undefined);
      if (plan === undefined) {
        const errors = validate(apiSchema, planned);
        if (errors.length > 0) refuse(requestContext, 'the rewritten document does not validate', { errors: errors.map((error) => error.message) });
        try {
          plan = planner.buildQueryPlan(operationFromDocument(planningSchema, planned, { operationName }));
        } catch (error) {
          refuse(requestContext, 'the query planner cannot plan the rewritten document', { err: error });
        }
        await plans.set(cacheKey, plan as QueryPlan);
      }
      const operationContext = buildOperationContext({ schema: apiSchema, operationDocument: shaping, operationName });
      return executeQueryPlan(plan as QueryPlan, services(), requestContext, operationContext, supergraphSchema, shapingSchema);
    },
    prime(documents) {
      const next = new Map<string, QueryPlan>();
      for (const [hash, document] of documents) {
        const operations = document.definitions.filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
        for (const operation of operations) {
          let plan: QueryPlan;
          try {
            plan = planner.buildQueryPlan(operationFromDocument(planningSchema, document, { operationName: operation.name?.value }));
          } catch (error) {
            logger.error({ err: error, operation: operation.name?.value }, 'a trusted document cannot be planned: it is planned on its first request instead');
            continue;
          }
          // A client may send the operation's name or, for a document of one operation, none.
          if (operation.name !== undefined) next.set(keyOf(hash, operation.name.value), plan);
          if (operations.length === 1) next.set(keyOf(hash, undefined), plan);
        }
      }
      pinned = next;
      pinnedDocuments = new Set(documents.keys());
    },
    primed: (queryHash) => pinnedDocuments.has(queryHash),
  };
}

/** A nullable copy of a field, with its arguments, under another name. */
function addShadow(type: ObjectType | InterfaceType, original: FieldDefinition<ObjectType | InterfaceType>, name: string): void {
  const fieldType = original.type;
  if (fieldType === undefined) return;
  const shadow = type.addField(name, fieldType instanceof NonNullType ? fieldType.ofType : fieldType);
  for (const argument of original.arguments()) shadow.addArgument(argument.name, argument.type, argument.defaultValue);
}

/** Shadow fields of every field a rule reads, on a copy of the API schema (see `SHADOW_FIELD_PREFIX`). */
function withShadowFields(planningSchema: Schema, apiSchema: GraphQLSchema, policy: CompiledPolicy): Schema {
  const shaping = planningSchema.clone();
  const added = new Set<string>();
  for (const graphqlType of Object.values(apiSchema.getTypeMap())) {
    if (!isObjectType(graphqlType) || graphqlType.name.startsWith('__')) continue;
    const type = shaping.type(graphqlType.name) as ObjectType | undefined;
    if (type === undefined) continue;
    for (const fieldName of Object.keys(graphqlType.getFields())) {
      for (const read of policy.field(graphqlType, fieldName).reads) {
        const shadowName = `${SHADOW_FIELD_PREFIX}${read.name.value}`;
        const original = type.field(read.name.value);
        if (original?.type === undefined || added.has(`${type.name}.${shadowName}`)) continue;
        if (type.field(shadowName) !== undefined) {
          throw new Error(`${type.name} has a field named ${shadowName}, which the gateway needs for the fields access rules read: rename it`);
        }
        added.add(`${type.name}.${shadowName}`);
        addShadow(type, original, shadowName);
        // Read directly in a selection set of an interface that declares the field (see checkOperation): the
        // interface needs the shadow too.
        for (const name of graphqlType.getInterfaces().map((iface) => iface.name)) {
          const iface = shaping.type(name) as InterfaceType | undefined;
          const declared = iface?.field(read.name.value);
          if (iface === undefined || declared?.type === undefined || added.has(`${name}.${shadowName}`)) continue;
          if (iface.field(shadowName) !== undefined) throw new Error(`${name} has a field named ${shadowName}, which the gateway needs for the fields access rules read: rename it`);
          added.add(`${name}.${shadowName}`);
          addShadow(iface, declared, shadowName);
        }
      }
    }
  }
  return shaping;
}
