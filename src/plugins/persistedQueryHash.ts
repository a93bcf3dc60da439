import { createHash } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { GatewayContext } from '../context.js';
import { ErrorCode } from '../errors.js';

/**
 * With automatic persisted queries on, a client that registers a document sends it with its SHA-256. Apollo Server
 * refuses a hash that does not match with an error that has no code (clients would see INTERNAL_SERVER_ERROR): this
 * refuses it first, as the client's mistake, 400 PERSISTED_QUERY_HASH_MISMATCH.
 */
export function persistedQueryHash(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ request }) {
      const persisted = request.extensions?.['persistedQuery'] as { sha256Hash?: unknown } | undefined;
      if (persisted === undefined || typeof request.query !== 'string') return;
      const actual = createHash('sha256').update(request.query).digest('hex');
      if (persisted.sha256Hash !== actual) {
        throw new GraphQLError('The persisted query hash does not match the query sent with it', {
          extensions: { code: ErrorCode.PersistedQueryHashMismatch, http: { status: 400 } },
        });
      }
    },
  };
}
