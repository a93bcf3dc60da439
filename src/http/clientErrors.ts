import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError } from 'fastify';
import { ErrorCode, errorBody } from '../errors.js';
import type { Logger } from '../common/logger.js';

/**
 * A complete HTTP/1.1 error response as bytes, for a socket that has no Fastify reply to send it through: the body is
 * `errorBody`'s GraphQL-shaped JSON, like every other error the gateway sends, and `connection: close` says that the
 * server closes the connection right after it.
 */
export function rawErrorResponse(status: number, code: ErrorCode, message: string, headers: Readonly<Record<string, string>> = {}): Buffer {
  const body = JSON.stringify(errorBody(code, message));
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    // What helmet gives every answer that goes through Fastify, for these written on the socket before it: a browser
    // must not read the JSON as anything else, and nothing may keep it.
    'x-content-type-options: nosniff',
    'cache-control: no-store',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/** Why a connection was answered and closed before a request existed; counted by `onRejected`. */
export type ClientErrorReason = 'timeout' | 'size' | 'malformed';

interface Refusal {
  status: number;
  code: ErrorCode;
  message: string;
  reason: ClientErrorReason;
}

const TIMEOUT: Refusal = { status: 408, code: ErrorCode.RequestTimeout, message: 'The request did not arrive in time', reason: 'timeout' };
const HEADERS_TOO_LARGE: Refusal = { status: 431, code: ErrorCode.RequestHeaderFieldsTooLarge, message: 'The request headers are too large', reason: 'size' };
const MALFORMED: Refusal = { status: 400, code: ErrorCode.BadRequest, message: 'The request could not be read', reason: 'malformed' };

/**
 * What a client error stands for, by Node's stable codes (https://nodejs.org/api/http.html#event-clienterror): its
 * header and request timers raise ERR_HTTP_REQUEST_TIMEOUT, its parser (llhttp) HPE_* codes. Every parse error other
 * than oversized headers is the client's malformed framing (Content-Length with Transfer-Encoding, a bad chunk size,
 * ...), which may be a request smuggling attempt: a 400 and no second request on that connection.
 */
function refusalFor(code: string | undefined): Refusal {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return TIMEOUT;
    case 'HPE_HEADER_OVERFLOW':
      return HEADERS_TOO_LARGE;
    default:
      return MALFORMED;
  }
}

export interface ClientErrorHandlerOptions {
  logger: Logger;
  /** Told of every refusal. */
  onRejected?: ((reason: ClientErrorReason) => void) | undefined;
}

/**
 * Fastify's `clientErrorHandler`: answers the errors Node raises on a connection outside any route (headers that are
 * too large or malformed, a request that does not arrive in time) with a GraphQL-shaped JSON error and a stable code,
 * logs one line, and closes the connection. Fastify's default would send `{"error":"Request Header Fields Too
 * Large",...}`, a shape no GraphQL client reads.
 *
 * A request whose body is still arriving when REQUEST_TIMEOUT_MS runs out is answered here too: Node's timer raises
 * the error on the socket, even though Fastify already has the request (its body parser then sees the stream aborted
 * and the error handler has nothing left to answer).
 */
export function createClientErrorHandler(options: ClientErrorHandlerOptions): (error: ConnectionError, socket: Socket) => void {
  return (error, socket) => {
    // A reset: the client has gone, and nothing was refused.
    if (error.code === 'ECONNRESET' || socket.destroyed) {
      socket.destroy();
      return;
    }
    const refusal = refusalFor(error.code);
    options.logger.info({ client: socket.remoteAddress, status: refusal.status, cause: error.code }, 'request refused');
    options.onRejected?.(refusal.reason);
    if (socket.writable && !responseStarted(socket)) socket.write(rawErrorResponse(refusal.status, refusal.code, refusal.message));
    socket.destroy();
  };
}

/**
 * Whether a response to an earlier request on this keep-alive connection is being written: raw bytes now would
 * corrupt it, so the connection is only closed. Node's own `clientError` default makes the same check, on the same
 * field (lib/_http_server.js, socketOnError); were it ever renamed, this would answer as Fastify's default does.
 */
function responseStarted(socket: Socket): boolean {
  const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  return current?.headersSent === true;
}
