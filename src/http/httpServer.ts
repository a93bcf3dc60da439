import { createHash } from 'node:crypto';
import cors from '@fastify/cors';
import helmet from 'helmet';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { JSONWebKeySet } from 'jose';
import { AuthError } from '../auth/authError.js';
import { authErrorResponse, clientTokenOf, type Authenticate, type ClientToken } from '../auth/authenticate.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { ClientGuard } from '../clientBlocking/clientGuard.js';
import { ErrorCode, errorBody } from '../errors.js';
import type { ConnectionsConfig } from '../config/index.js';
import type { Logger } from '../common/logger.js';
import { createClientErrorHandler, type ClientErrorReason } from './clientErrors.js';
import { limitConnectionsPerClient } from './connectionLimit.js';
import type { GraphQLHandler } from '../common/graphqlHandler.js';
import { REQUEST_ID_HEADER, requestIdOf } from './requestId.js';
import type { ExplorerAssets } from '../explorer/explorerAssets.js';
import { registerExplorer } from '../explorer/explorerRoutes.js';

export const GRAPHQL_PATH = '/graphql';
/** Where subgraphs fetch the public keys of the gateway's tokens. */
export const GATEWAY_JWKS_PATH = '/.well-known/jwks.json';
/** Development only: the public key of the local issuer that `npm run token` signs with. */
export const DEV_ISSUER_JWKS_PATH = '/.well-known/dev-issuer-jwks.json';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on /graphql, before the body is read. */
    principal: Principal | undefined;
    /** The token `principal` was verified by, set with it; undefined for an anonymous caller. */
    clientToken: ClientToken | undefined;
    /** Set by the trusted documents gate when the request's document is in the trusted list. */
    trustedDocument: boolean;
  }
}


export interface HttpServerOptions {
  logger: Logger;
  bodyLimitBytes: number;
  /** Timeouts and the per-client connection cap. */
  connections: ConnectionsConfig;
  /** Whether `/` sends a browser to Apollo Sandbox at `/graphql`. */
  sandbox: boolean;
  /** The local explorer's files, when `/explorer` serves it (src/explorer); undefined: no explorer. */
  explorer?: ExplorerAssets | undefined;
  /** The GraphQL handler once a supergraph is loaded; undefined before that and once stopped. */
  graphqlHandler: () => GraphQLHandler | undefined;
  /** True once shutdown has begun. */
  draining: () => boolean;
  /** Establishes the caller of a GraphQL request from its headers. */
  authenticate: Authenticate;
  /** The gateway's public keys, served at /.well-known/jwks.json. */
  gatewayJwks: JSONWebKeySet;
  /** In development without a key source, the local issuer's public keys. */
  devIssuerJwks?: JSONWebKeySet | undefined;
  /** Proxies whose X-Forwarded-For is believed. */
  trustedProxies: readonly string[];
  /** Origins browsers may call from, and whether with credentials; none: same-origin only. */
  cors: { origins: readonly string[]; credentials: boolean };
  /**
   * Told of requests and connections refused before GraphQL runs: credentials (`auth`), a body or headers too large
   * (`size`), a request that did not arrive in time (`timeout`), malformed framing (`malformed`), a client over its
   * connection cap (`connection`).
   */
  onRejected?: (reason: 'auth' | 'connection' | ClientErrorReason) => void;
  /**
   * Blocks suspicious clients: a blocked one is refused before its body is looked at; refused credentials count
   * against the address that sent them, a body that is not JSON against the request's client. A connection refused
   * before it carried a request never counts: a browser's idle preconnect times out, a page can make its visitors'
   * browsers send a URL over the header limit, and a dozen users behind one NAT reach the connection cap; counted,
   * any page could get its visitors' address blocked. Absent: CLIENT_BLOCKING=off.
   */
  clientGuard?: Pick<ClientGuard, 'blocked' | 'note'> | undefined;
  /** Told of every request refused because its client is blocked. */
  onBlocked?: () => void;
  /** Serves GET /metrics with this, when metrics belong on the main port. */
  metrics?: (() => Promise<{ contentType: string; body: string }>) | undefined;
}

/**
 * The gateway's HTTP surface: `/graphql`, `/health` (the process is up), `/ready` (a supergraph is loaded and the
 * gateway is not shutting down), in development `/` redirecting to Sandbox, and `/explorer` where it is on. Every response carries `x-request-id`;
 * every error, including 404 and 413, has a GraphQL-shaped JSON body with a stable code, and so do the refusals made
 * before a request exists: 408 (too slow), 431 (headers too large), 400 (malformed framing), 429 (over the per-client
 * connection cap).
 */
export function createHttpServer(options: HttpServerOptions) {
  // Typed as Fastify's logger interface (pino's is wider), so the instance has Fastify's default types.
  const loggerInstance: FastifyBaseLogger = options.logger;
  const { requestTimeoutMs, headersTimeoutMs, keepAliveTimeoutMs, maxPerClient } = options.connections;
  const app = Fastify({
    loggerInstance,
    // One line per request, written by the onResponse hook below; every line of a request carries its id.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    genReqId: requestIdOf,
    bodyLimit: options.bodyLimitBytes,
    // X-Forwarded-For decides the client's address (and so an anonymous caller's rate budget) only when it comes
    // from a proxy the deployment names; anyone else could claim any address.
    trustProxy: options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    // While draining, requests on open connections are still served (answered with `connection: close`); /ready says
    // 503 so that load balancers send no more.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Fastify turns Node's request timer off (0) unless told, so a body sent a byte at a time was never cut off. It
    // sets these two on the Node server after creating it; `http` reaches http.createServer, which takes the headers
    // timeout only there and checks it against the request timeout it is given (issue 9).
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    http: { requestTimeout: requestTimeoutMs, headersTimeout: headersTimeoutMs, connectionsCheckingInterval: checkingIntervalMs(options.connections) },
    // No `connectionTimeout`: it is an inactivity timer on the socket, which also runs out while the gateway itself
    // waits on a slow subgraph; the three timers above bound every phase in which the client is the slow one.
    clientErrorHandler: createClientErrorHandler({ logger: options.logger, onRejected: options.onRejected }),
  });
  limitConnectionsPerClient(app.server, {
    maxPerClient,
    trustedProxies: options.trustedProxies,
    logger: options.logger,
    onRefused: () => options.onRejected?.('connection'),
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
  // Helmet's middleware, built once: @fastify/helmet builds it anew for every request (3.2 µs each against
  // 0.34 µs, measured here), for per-route options the gateway does not use.
  const securityHeaders = helmet({
    // Apollo's Sandbox page brings its own CSP (with a nonce for its scripts); every other answer is JSON and needs
    // none but this: nothing may load, nothing may frame it. The explorer's routes set their own.
    contentSecurityPolicy: options.sandbox ? false : { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginEmbedderPolicy: false,
    // The embedded Sandbox is served from Apollo's CDN into this page.
    crossOriginResourcePolicy: options.sandbox ? { policy: 'cross-origin' } : { policy: 'same-origin' },
  });
  app.addHook('onRequest', (request, reply, done) => {
    securityHeaders(request.raw, reply.raw, (error?: unknown) => done(error instanceof Error ? error : undefined));
  });
  if (options.cors.origins.length > 0) {
    void app.register(cors, {
      origin: options.cors.origins.includes('*') ? '*' : [...options.cors.origins],
      credentials: options.cors.credentials,
      methods: ['GET', 'POST'],
      // Apollo Client sends its name and version (apollographql-client-*) on every request: a browser app's preflight
      // must allow them, or no request of it is sent.
      allowedHeaders: ['content-type', 'authorization', 'apollo-require-preflight', 'x-apollo-operation-name', 'x-request-id', 'apollographql-client-name', 'apollographql-client-version'],
      exposedHeaders: ['x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy'],
      maxAge: 600,
    });
  }
  app.addHook('onSend', async (_request, reply) => {
    // Closing the server ends idle keep-alive connections only at that moment; a connection whose request finishes
    // during the drain must be told to close too, or shutdown waits for the client to hang up.
    if (options.draining()) void reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    // The path only: a GET query string holds the operation and its variables, which may be personal data.
    request.log.info({ method: request.method, path: request.routeOptions.url ?? 'unmatched', status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  // GraphQL comes as JSON (or GET). Fastify would read a text/plain body up to the body limit, which a web page can
  // make any visitor's browser send without a preflight: refused unread (415) instead.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('principal', undefined);
  app.decorateRequest('clientToken', undefined);
  app.decorateRequest('trustedDocument', false);
  app.get('/health', async () => ({ status: 'ok' }));
  const metrics = options.metrics;
  if (metrics !== undefined) {
    app.get('/metrics', async (_request, reply) => {
      const { contentType, body } = await metrics();
      return reply.header('content-type', contentType).send(body);
    });
  }
  app.get(GATEWAY_JWKS_PATH, async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(options.gatewayJwks));
  const devIssuerJwks = options.devIssuerJwks;
  if (devIssuerJwks !== undefined) app.get(DEV_ISSUER_JWKS_PATH, async () => devIssuerJwks);
  app.get('/ready', async (_request, reply) => {
    if (options.graphqlHandler() !== undefined && !options.draining()) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready' });
  });
  if (options.sandbox) {
    app.get('/', async (_request, reply) => reply.redirect(GRAPHQL_PATH, 302));
  }
  if (options.explorer !== undefined) registerExplorer(app, { assets: options.explorer, graphqlPath: GRAPHQL_PATH });
  app.route({
    method: ['GET', 'POST'],
    url: GRAPHQL_PATH,
    // On request, before the body is read: a blocked client, or one whose credentials are refused, costs no parsing.
    onRequest: async (request, reply) => {
      const guard = options.clientGuard;
      // The verdict on a blocked client is a map lookup (see clientBlocking/blockList.ts).
      const refuseBlocked = (principal: Principal): boolean => {
        const block = guard?.blocked(principal, request.ip);
        if (block === undefined) return false;
        options.onBlocked?.();
        void reply
          .code(429)
          .header('retry-after', String(Math.max(1, Math.ceil((block.untilMs - Date.now()) / 1000))))
          .send(errorBody(ErrorCode.ClientBlocked, 'This client is blocked for suspicious requests; retry later'));
        return true;
      };
      try {
        request.principal = await options.authenticate(request.raw.rawHeaders);
        request.clientToken = clientTokenOf(request.raw.rawHeaders, request.principal);
      } catch (error) {
        if (!(error instanceof AuthError)) throw error;
        // A blocked address learns nothing more, not even that its token was refused.
        if (refuseBlocked(ANONYMOUS)) return reply;
        const { status, wwwAuthenticate } = authErrorResponse(error);
        request.log.info({ reason: error.message, kind: error.kind, cause: (error.cause as Error | undefined)?.message }, 'credentials refused');
        options.onRejected?.('auth');
        // Forged, expired or malformed tokens count against the address that sent them (never the subject they name);
        // a missing token is a client not signed in, and keys that cannot be had are no fault of the client.
        if (guard !== undefined && (error.kind === 'invalid_token' || error.kind === 'invalid_request')) void guard.note(ANONYMOUS, request.ip, 'credentials', credentialsFingerprint(request.headers.authorization));
        if (wwwAuthenticate !== undefined) void reply.header('www-authenticate', wwwAuthenticate);
        if (error.kind === 'unavailable') void reply.header('retry-after', '5');
        const code = error.kind === 'unavailable' ? ErrorCode.ServiceUnavailable : ErrorCode.Unauthenticated;
        return reply.code(status).send(errorBody(code, error.message));
      }
      if (refuseBlocked(request.principal)) return reply;
    },
    handler: async (request, reply) => {
      const handler = options.graphqlHandler();
      if (handler === undefined) {
        return reply.code(503).header('retry-after', '1').send(errorBody(ErrorCode.NotReady, 'The gateway is not ready to serve requests'));
      }
      return handler(request, reply);
    },
  });

  app.setNotFoundHandler(async (_request, reply) => reply.code(404).send(errorBody(ErrorCode.NotFound, 'Not found')));
  app.setErrorHandler(async (error: { statusCode?: number; code?: string }, request, reply) => {
    // The connection is gone: the client hung up mid-body, or its request timed out, which Node reports on the socket
    // (answered 408 by the client error handler) and which reaches here only as the body stream's abort.
    if (request.raw.socket.destroyed) return;
    const status = error.statusCode ?? 500;
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        options.onRejected?.('size');
        void options.clientGuard?.note(request.principal ?? ANONYMOUS, request.ip, 'limit');
        return reply.code(413).send(errorBody(ErrorCode.PayloadTooLarge, 'The request body is too large'));
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.code(415).send(errorBody(ErrorCode.UnsupportedMediaType, 'Send GraphQL requests as application/json'));
    }
    if (status >= 400 && status < 500) {
      // A GraphQL request whose body is not JSON (or is empty): fuzzing, a hand-made request. Only a body sent as
      // application/json gets this far (other types are refused above, unread and uncounted, as a web page can make
      // its visitors' browsers send them), which no page can send without a CORS preflight. Each counts: the body is
      // not kept to tell a repeat apart, and no client library writes JSON that does not parse.
      if (request.routeOptions.url === GRAPHQL_PATH) void options.clientGuard?.note(request.principal ?? ANONYMOUS, request.ip, 'invalid');
      return reply.code(status).send(errorBody(ErrorCode.BadRequest, 'The request could not be read'));
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody(ErrorCode.InternalServerError, 'Internal server error'));
  });
  return app;
}

/** What a refused token is known by, so that one expired token sent again counts once: never the token itself. */
function credentialsFingerprint(authorization: string | undefined): string | undefined {
  return authorization === undefined ? undefined : createHash('sha256').update(authorization).digest('base64url');
}

/**
 * Node compares each connection with the headers and request timeouts only on a timer, every
 * `connectionsCheckingInterval` (30 s by default), so a dripping request could outlive REQUEST_TIMEOUT_MS by that much.
 * Checking every quarter of the shorter timeout, and at least every second, cuts it at most that late; each check walks
 * only the connections with a request in progress.
 */
function checkingIntervalMs(connections: ConnectionsConfig): number {
  return Math.min(1_000, Math.ceil(Math.min(connections.headersTimeoutMs, connections.requestTimeoutMs) / 4));
}
