import type { FastifyRequest } from 'fastify';
import { hasBypassRole } from '../auth/principal.js';
import type { GraphQLHandler } from '../common/graphqlHandler.js';
import { ErrorCode, errorBody } from '../errors.js';
import { sha256Hex, type TrustedDocument } from './manifest.js';
import type { TrustedDocumentList } from './trustedDocumentList.js';

export type TrustedDocumentsMode = 'off' | 'audit' | 'enforce';

/** What the gate made of one request, for the metrics: a listed document, or what became of one that is not. */
export type TrustedDocumentResult = 'hit' | 'miss_refused' | 'miss_audited' | 'bypass';

export interface TrustedDocumentGateOptions {
  mode: TrustedDocumentsMode;
  list: TrustedDocumentList;
  /** Callers holding one of these roles may send any document (Sandbox in a staging deployment). */
  bypassRoles: readonly string[];
  /** Told of every request that named or sent a document, with the client's name (`apollographql-client-name`). */
  onResult: (result: TrustedDocumentResult, clientName: string, request: FastifyRequest, unlistedHash?: string) => void;
  /** Told of a document not in the list, the first time it is seen (a bounded number of them). */
  onUnlisted: (unlisted: { hash: string; clientName: string; operationName: string | undefined; refused: boolean }) => void;
}

/** Documents told about once each, at most this many: a flood of new documents cannot flood the log. */
const REMEMBERED_UNLISTED = 10_000;

/**
 * The safelist of trusted documents, before Apollo Server parses anything: a request names a document of the list by
 * `extensions.persistedQuery.sha256Hash` (Apollo's convention) or `documentId` (the GraphQL-over-HTTP persisted
 * documents proposal), or sends a full document whose SHA-256 is in the list. A listed document is handed on as its
 * body (so Apollo finds it parsed and validated already). A document that is not in the list:
 * - `enforce`: refused with 400 PERSISTED_QUERY_NOT_IN_LIST, before parsing; registering one by automatic persisted
 *   queries is refused the same way;
 * - `audit`: served, counted and told once (by client name);
 * - `off`: served as without a list;
 * and in every mode served to a caller with a bypass role.
 */
export function trustedDocumentGate(handler: GraphQLHandler, options: TrustedDocumentGateOptions): GraphQLHandler {
  const told = new Set<string>();

  return async (request, reply) => {
    const sent = requestParts(request);
    if (sent === undefined) return handler(request, reply);
    const { query, id } = sent;
    const listed: TrustedDocument | undefined =
      query === undefined ? (id === undefined ? undefined : options.list.byId(id)) : options.list.byBody(query);
    if (listed !== undefined) {
      options.onResult('hit', clientName(request), request);
      request.trustedDocument = true;
      replaceDocument(request, sent, listed.body);
      return handler(request, reply);
    }
    if (query === undefined && id === undefined) return handler(request, reply);
    if (options.mode === 'off') return handler(request, reply);
    if (hasBypassRole(request.principal, options.bypassRoles)) {
      options.onResult('bypass', clientName(request), request);
      return handler(request, reply);
    }
    const refused = options.mode === 'enforce';
    const hash = query === undefined ? (id as string) : sha256Hex(query);
    options.onResult(refused ? 'miss_refused' : 'miss_audited', clientName(request), request, hash);
    if (!told.has(hash) && told.size < REMEMBERED_UNLISTED) {
      told.add(hash);
      options.onUnlisted({ hash, clientName: clientName(request), operationName: sent.operationName, refused });
    }
    if (!refused) return handler(request, reply);
    return reply.code(400).send(errorBody(ErrorCode.PersistedQueryNotInList, 'This operation is not in the list of trusted documents'));
  };
}

interface RequestParts {
  query: string | undefined;
  id: string | undefined;
  operationName: string | undefined;
  extensions: Record<string, unknown> | undefined;
  /** Where they were read: a POST body, or a GET's search parameters. */
  from: 'body' | 'search';
}

function requestParts(request: FastifyRequest): RequestParts | undefined {
  if (request.method === 'GET') {
    const at = request.url.indexOf('?');
    if (at === -1) return undefined;
    const search = new URLSearchParams(request.url.slice(at + 1));
    let extensions: Record<string, unknown> | undefined;
    try {
      const text = search.get('extensions');
      extensions = text === null ? undefined : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      return undefined; // Apollo says what is wrong with it.
    }
    return parts(search.get('query') ?? undefined, search.get('documentId') ?? undefined, search.get('operationName') ?? undefined, extensions, 'search');
  }
  const body = request.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { query, documentId, operationName, extensions } = body as Record<string, unknown>;
  return parts(query, documentId, operationName, typeof extensions === 'object' && extensions !== null ? (extensions as Record<string, unknown>) : undefined, 'body');
}

function parts(query: unknown, documentId: unknown, operationName: unknown, extensions: Record<string, unknown> | undefined, from: RequestParts['from']): RequestParts {
  const hash = (extensions?.['persistedQuery'] as { sha256Hash?: unknown } | undefined)?.sha256Hash;
  const id = typeof documentId === 'string' ? documentId : typeof hash === 'string' ? hash : undefined;
  return { query: typeof query === 'string' ? query : undefined, id, operationName: typeof operationName === 'string' ? operationName : undefined, extensions, from };
}

/**
 * Hands Apollo the listed document's body in place of what named it. The persisted query extension and `documentId`
 * go: the list, not automatic persisted queries, answered them.
 */
function replaceDocument(request: FastifyRequest, sent: RequestParts, body: string): void {
  const { persistedQuery: _, ...extensions } = sent.extensions ?? {};
  if (sent.from === 'body') {
    const { documentId: __, extensions: ___, ...rest } = request.body as Record<string, unknown>;
    request.body = { ...rest, query: body, ...(Object.keys(extensions).length > 0 ? { extensions } : {}) };
    return;
  }
  const at = request.url.indexOf('?');
  const search = new URLSearchParams(request.url.slice(at + 1));
  search.set('query', body);
  search.delete('documentId');
  if (Object.keys(extensions).length > 0) search.set('extensions', JSON.stringify(extensions));
  else search.delete('extensions');
  request.raw.url = `${request.url.slice(0, at)}?${search.toString()}`;
}

/** The client's name as Apollo Client sends it, bounded: it goes into logs. */
function clientName(request: FastifyRequest): string {
  const name = request.headers['apollographql-client-name'];
  const text = Array.isArray(name) ? name[0] : name;
  return text === undefined || text === '' ? '(unnamed)' : text.slice(0, 64);
}
