import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../src/common/index.js';
import { STATIC_FILES, type StaticFile } from '../build/staticFiles.js';
import { RUNTIME_CONFIG_PATH, type DemoUser, type StorefrontRuntimeConfig } from '../src/runtimeConfig.js';
import { createDevSignIn } from './devSignIn.js';
import { securityHeaders } from './securityHeaders.js';

/** Where the development sign-in answers (only outside production). */
export const DEV_SIGN_IN_PATH = '/dev/sign-in';
/** A sign-in request is `{ "userId": "1" }`: anything much larger is not one. */
const SIGN_IN_BODY_LIMIT_BYTES = 1024;

/**
 * How visitors sign in. `development`: this server signs short-lived tokens with the gateway's development issuer
 * (`POST /dev/sign-in`). `identity-provider`: production, where this server signs nothing and has no such route.
 */
export type StorefrontSignIn = { mode: 'development'; keyFile: string; users: readonly DemoUser[]; ttlSec: number } | { mode: 'identity-provider' };

export interface StorefrontServerOptions {
  host: string;
  port: number;
  /** The built page: `STATIC_FILES` (`npm run build` writes them to `dist/frontend/public`). */
  staticDir: string;
  /** The gateway's GraphQL endpoint as browsers reach it; its origin is the only other one the page may connect to. */
  graphqlUrl: URL;
  signIn: StorefrontSignIn;
  logger: Logger;
}

export interface StorefrontServer {
  /** Reads the built files (failing if they are missing) and listens; resolves with the server's origin. */
  start(): Promise<{ url: string }>;
  stop(): Promise<void>;
}

interface StaticAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const CONTENT_TYPES: Record<StaticFile, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'styles.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/**
 * The storefront's own small server: the built page and its script and styles, `/config.json` (the gateway's URL and
 * how to sign in, see `StorefrontRuntimeConfig`), `/health`, and outside production `POST /dev/sign-in`. Every answer
 * carries the page's security headers (`securityHeaders`). It serves a fixed list of files read at start, so no
 * request path ever reaches the file system.
 */
export function createStorefrontServer(options: StorefrontServerOptions): StorefrontServer {
  const headers = securityHeaders(options.graphqlUrl.origin);
  const signIn = options.signIn.mode === 'development' ? createDevSignIn(options.signIn) : undefined;
  const runtimeConfig: StorefrontRuntimeConfig = {
    graphqlUrl: options.graphqlUrl.href,
    signIn:
      options.signIn.mode === 'development'
        ? { mode: 'development', path: DEV_SIGN_IN_PATH, users: options.signIn.users.map(({ id, name }) => ({ id, name })) }
        : { mode: 'identity-provider' },
  };
  const assets = new Map<string, StaticAsset>();

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    const path = new URL(request.url ?? '/', 'http://storefront.invalid').pathname;

    if (path === DEV_SIGN_IN_PATH && signIn !== undefined) {
      if (request.method !== 'POST') return sendJson(response, 405, { error: 'use POST' }, { allow: 'POST' });
      return answerSignIn(request, response, signIn);
    }
    const asset = assets.get(path === '/' ? '/index.html' : path);
    const known = asset !== undefined || path === RUNTIME_CONFIG_PATH || path === '/health';
    if (!known) return sendJson(response, 404, { error: 'not found' });
    if (request.method !== 'GET' && request.method !== 'HEAD') return sendJson(response, 405, { error: 'use GET' }, { allow: 'GET, HEAD' });
    if (path === RUNTIME_CONFIG_PATH) return sendJson(response, 200, runtimeConfig);
    if (path === '/health') return sendJson(response, 200, { status: 'ok' });
    if (asset === undefined) return sendJson(response, 404, { error: 'not found' });
    // File names carry no content hash, so browsers revalidate each time and get 304 while the build is unchanged.
    response.setHeader('cache-control', 'no-cache');
    response.setHeader('etag', asset.etag);
    response.setHeader('content-type', asset.contentType);
    if (request.headers['if-none-match'] === asset.etag) {
      response.writeHead(304).end();
      return;
    }
    response.setHeader('content-length', asset.body.byteLength);
    response.writeHead(200).end(request.method === 'HEAD' ? undefined : asset.body);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      options.logger.error({ err: error, path: request.url }, 'request failed');
      if (!response.headersSent) sendJson(response, 500, { error: 'internal error' });
      else response.destroy();
    });
  });

  return {
    async start() {
      for (const file of STATIC_FILES) {
        const body = await readFile(join(options.staticDir, file)).catch((error: NodeJS.ErrnoException) => {
          throw new Error(`the storefront's ${file} is missing from ${options.staticDir} (${error.code ?? error.message}): run \`npm run build\``);
        });
        assets.set(`/${file}`, { body, contentType: CONTENT_TYPES[file], etag: `"${createHash('sha256').update(body).digest('base64url')}"` });
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const { address, port } = server.address() as AddressInfo;
      const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
      options.logger.info({ url, signIn: options.signIn.mode, graphqlUrl: options.graphqlUrl.href }, 'listening');
      return { url };
    },
    async stop() {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      server.closeIdleConnections();
      await closed;
    },
  };
}

async function answerSignIn(request: IncomingMessage, response: ServerResponse, signIn: ReturnType<typeof createDevSignIn>): Promise<void> {
  // Only a script can send JSON, and only a same-origin one can read the answer (no CORS headers here): a page on
  // another site cannot get a token out of a visitor's browser with a form post.
  if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
    return sendJson(response, 415, { error: 'send application/json: { "userId": "1" }' });
  }
  // A declared length over the limit is refused unread; a chunked body that grows past it is cut off.
  if (Number(request.headers['content-length'] ?? 0) > SIGN_IN_BODY_LIMIT_BYTES) {
    return sendJson(response, 413, { error: 'request body too large' }, { connection: 'close' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > SIGN_IN_BODY_LIMIT_BYTES) return sendJson(response, 413, { error: 'request body too large' }, { connection: 'close' });
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return sendJson(response, 400, { error: 'the body is not JSON: { "userId": "1" }' });
  }
  const result = await signIn(typeof body === 'object' && body !== null ? (body as { userId?: unknown }).userId : undefined);
  if (!result.ok) return sendJson(response, 400, { error: result.error });
  return sendJson(response, 200, result.response);
}

function sendJson(response: ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  // Tokens and per-deployment config are never cached on the way.
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...extraHeaders });
  response.end(text);
}
