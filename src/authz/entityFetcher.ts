import type { GraphQLDataSourceProcessOptions, RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import type { GatewayContext } from '../context.js';
import type { EntityFetcher } from './authzContext.js';

// @apollo/gateway does not export its GraphQLDataSourceRequestKind enum; this is its value for a client's operation.
const INCOMING_OPERATION = 'incoming operation' as Extract<GraphQLDataSourceProcessOptions, { incomingRequestContext: unknown }>['kind'];

/**
 * Looks an entity up with `_entities`, in the subgraph that resolves the first field of the selection, through the
 * gateway's own data source: the request carries the caller's identity, like every other subgraph request.
 */
export function entityFetcher(input: {
  owner: (typename: string, field: string) => string | undefined;
  dataSource: (subgraph: string) => RemoteGraphQLDataSource<GatewayContext> | undefined;
  requestContext: GatewayGraphQLRequestContext<GatewayContext>;
}): EntityFetcher {
  return async ({ typename, key, selection }) => {
    const firstField = /^\s*([_A-Za-z][_0-9A-Za-z]*)/.exec(selection)?.[1] ?? '';
    const subgraph = input.owner(typename, firstField);
    const dataSource = subgraph === undefined ? undefined : input.dataSource(subgraph);
    if (dataSource === undefined) throw new Error(`no subgraph resolves ${typename}.${firstField}`);
    const response = await dataSource.process({
      kind: INCOMING_OPERATION,
      request: {
        query: `query AuthorizationLookup($representations: [_Any!]!) { _entities(representations: $representations) { ... on ${typename} { ${selection} } } }`,
        variables: { representations: [{ __typename: typename, ...key }] },
      },
      context: input.requestContext.context,
      incomingRequestContext: input.requestContext,
    });
    if (response.errors?.length) throw new Error(`${subgraph} could not look up ${typename}: ${response.errors[0]?.message ?? ''}`);
    const entities = (response.data as { _entities?: (Record<string, unknown> | null)[] } | undefined)?._entities;
    return entities?.[0] ?? null;
  };
}
