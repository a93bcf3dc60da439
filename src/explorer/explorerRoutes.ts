import type { FastifyInstance } from 'fastify';
import { ErrorCode, errorBody } from '../errors.js';
import type { ExplorerAssets } from './explorerAssets.js';
import { EXPLORER_ASSETS_PATH, EXPLORER_CSP, EXPLORER_PATH, explorerPage } from './explorerPage.js';

/**
 * Serves the explorer: GET /explorer (the page) and GET /explorer/assets/<name> (its files, from memory, revalidated
 * by ETag), each with the explorer's own CSP in place of the gateway's (which allows nothing to load). Every other
 * answer keeps the gateway's headers. Who may see what through it is decided by /graphql, as for any client.
 */
export function registerExplorer(app: FastifyInstance, options: { assets: ExplorerAssets; graphqlPath: string }): void {
  const page = explorerPage({ graphqlPath: options.graphqlPath });
  app.get(EXPLORER_PATH, async (_request, reply) =>
    reply.header('content-security-policy', EXPLORER_CSP).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(page),
  );
  app.get<{ Params: { name: string } }>(`${EXPLORER_ASSETS_PATH}:name`, async (request, reply) => {
    const asset = options.assets.get(request.params.name);
    if (asset === undefined) return reply.code(404).send(errorBody(ErrorCode.NotFound, 'Not found'));
    void reply.header('content-security-policy', EXPLORER_CSP).header('cache-control', 'no-cache').header('etag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  });
}
