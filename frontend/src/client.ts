import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client/core';
import { SetContextLink } from '@apollo/client/link/context';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { generatePersistedQueryIdsFromManifest, type PersistedQueryManifestForGeneratingPersistedQueryIds } from '@apollo/persisted-query-lists';

/** The name the gateway sees in `apollographql-client-name`, for its logs and metrics (Apollo's client awareness). */
export const CLIENT_NAME = 'storefront';

export interface StorefrontClientOptions {
  /** The gateway's GraphQL endpoint, from the runtime config. */
  graphqlUrl: string;
  /**
   * The persisted-query manifest `npm run manifest` generates (`frontend/persisted-query-manifest.json`): the client
   * sends each operation's `id` from it instead of the document.
   */
  manifest: PersistedQueryManifestForGeneratingPersistedQueryIds;
  /** Sent as `apollographql-client-version`: the build of the storefront. */
  clientVersion: string;
  /** The caller's bearer token, read for every request; `undefined` while signed out. */
  token: () => string | undefined;
  /** The `fetch` to call; the page's own by default (tests pass one that records requests). */
  fetch?: typeof fetch;
}

/**
 * The storefront's Apollo Client: operations go out as persisted queries whose `extensions.persistedQuery.sha256Hash`
 * is the manifest's id for the operation's name (`generatePersistedQueryIdsFromManifest`, as Apollo documents for a
 * safelist), with the caller's token and the client's name and version as headers.
 *
 * The link keeps Apollo's default retry: a gateway that answers `PERSISTED_QUERY_NOT_FOUND` or
 * `PERSISTED_QUERY_NOT_SUPPORTED` gets the full document once more with the hash, which a safelisting gateway checks
 * against its own copy of the manifest.
 */
export function createStorefrontClient(options: StorefrontClientOptions): ApolloClient {
  const auth = new SetContextLink(({ headers }) => {
    const token = options.token();
    return { headers: token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` } };
  });
  const persistedQueries = new PersistedQueryLink(generatePersistedQueryIdsFromManifest({ loadManifest: () => options.manifest }));
  const http = new HttpLink({
    uri: options.graphqlUrl,
    // The caller is identified by its bearer token alone: no cookie of the gateway's origin is ever sent.
    credentials: 'omit',
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  return new ApolloClient({
    link: ApolloLink.from([auth, persistedQueries, http]),
    cache: new InMemoryCache({
      typePolicies: {
        // Products have no `id`: without their key they would not be normalized, and a new review could not be added
        // to the product it belongs to.
        Product: { keyFields: ['upc'] },
      },
    }),
    clientAwareness: { name: CLIENT_NAME, version: options.clientVersion },
    // Apollo Client would add `extensions.clientLibrary` for GraphOS usage reporting, which this gateway does not
    // do: requests carry only what the gateway reads.
    enhancedClientAwareness: { transport: false },
  });
}
