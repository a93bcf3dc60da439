import type { GatewayCachePolicy, GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { LRUCache } from 'lru-cache';
import type { GatewayContext } from '../context.js';
import { cachePolicy } from './cachePolicy.js';
import type { PublicData } from './publicData.js';

/** Client operations whose policy is kept (by Apollo's query hash): Apollo keeps about as many parsed documents. */
const MAX_OPERATION_POLICIES = 10_000;

/**
 * Sets the policy behind the client's `Cache-Control` from the supergraph's hints, computed on the client's
 * operation as Apollo Server would (`cachePolicy`); Apollo Server's cache control plugin then writes the header
 * (`max-age=N, public|private`, or `no-store` for maxAge 0 or an answer with errors).
 *
 * `public` only ever goes to an anonymous caller: a signed-in caller's answer is shaped by who they are (the policy
 * removes or nulls fields for them, `me` is them), so it is `private` whatever the hints say. Anonymous callers all
 * get the same answer to the same operation (the policy decides alike for each of them), so a shared cache may keep
 * it. Every answer that may be kept says `Vary: authorization` and the headers passed on to subgraphs (FORWARD_HEADERS).
 */
export function cacheControlled(inner: GatewayInterface, publicData: PublicData, options: { forwardHeaders: readonly string[] }): GatewayInterface {
  // An answer depends on the headers passed on to subgraphs (a tenant, a language) as much as on the caller: a
  // shared cache must keep one per value of each, as the gateway's own cache does (they are in its keys).
  const vary = ['authorization', ...options.forwardHeaders].join(', ');
  let policies = new LRUCache<string, { maxAge: number; scope: 'PUBLIC' | 'PRIVATE' }>({ max: MAX_OPERATION_POLICIES });
  let policiesOf: unknown;
  const wrap = (execute: GatewayExecutor): GatewayExecutor => async (requestContext) => {
    const result = await execute(requestContext);
    const hints = publicData.hints();
    // Policies hold for the supergraph they were computed on.
    if (hints !== policiesOf) {
      policies = new LRUCache({ max: MAX_OPERATION_POLICIES });
      policiesOf = hints;
    }
    const overall = requestContext.overallCachePolicy as GatewayCachePolicy | undefined;
    if (overall === undefined) return result;
    const operationName = requestContext.operationName ?? undefined;
    const key = `${requestContext.queryHash}:${operationName ?? ''}`;
    let policy = policies.get(key);
    if (policy === undefined && hints !== undefined) {
      const computed = cachePolicy(hints, requestContext.document, operationName);
      policy = computed === undefined || computed.operation !== 'query' ? { maxAge: 0, scope: 'PRIVATE' } : { maxAge: computed.maxAge, scope: computed.scope };
      policies.set(key, policy);
    }
    const anonymous = ((requestContext.context as GatewayContext).principal?.kind ?? 'anonymous') === 'anonymous';
    overall.restrict({ maxAge: policy?.maxAge ?? 0, scope: anonymous ? (policy?.scope ?? 'PRIVATE') : 'PRIVATE' });
    // Any answer a cache may keep depends on the Authorization header: a browser must not hand one user's private
    // answer to the next user of the same browser, nor a shared cache an anonymous answer to a signed-in request.
    if (overall.policyIfCacheable() !== null) {
      const headers = requestContext.response?.http?.headers;
      const already = headers?.get('vary');
      headers?.set('vary', already === undefined || already === '' ? vary : `${already}, ${vary}`);
    }
    return result;
  };
  return {
    async load(loadOptions) {
      const loaded = await inner.load(loadOptions);
      return { ...loaded, executor: loaded.executor === null ? null : wrap(loaded.executor) };
    },
    onSchemaLoadOrUpdate: (callback) => inner.onSchemaLoadOrUpdate(callback),
    stop: () => inner.stop(),
  };
}
