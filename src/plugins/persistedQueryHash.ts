import { createHash } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context.js';
import { ErrorCode } from '../errors.js';

/**
 * With automatic persisted queries on, a client that registers a document sends it with its SHA-256. Apollo Server
 * refuses a hash that does not match with a 400 whose error has no code, which clients would see as
 * INTERNAL_SERVER_ERROR. The hash is checked here again, on the request itself, and the answer given the client's
 * mistake's own code: 400 PERSISTED_QUERY_HASH_MISMATCH. (A plugin cannot answer before Apollo's own check, which
 * runs first; it can only say it better.)
 */
export function persistedQueryHash(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ request }) {
      const persisted = request.extensions?.['persistedQuery'] as { sha256Hash?: unknown } | undefined;
      if (persisted === undefined || typeof request.query !== 'string') return;
      if (persisted.sha256Hash === createHash('sha256').update(request.query).digest('hex')) return;
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          response.http.status = 400;
          response.body.singleResult = {
            errors: [{ message: 'The persisted query hash does not match the query sent with it', extensions: { code: ErrorCode.PersistedQueryHashMismatch } }],
          };
        },
      };
    },
  };
}
