import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import proxyAddr from '@fastify/proxy-addr';
import { ErrorCode } from '../errors.js';
import type { Logger } from '../common/logger.js';
import { rawErrorResponse } from './clientErrors.js';

/**
 * How long a refused socket may stay open while the client's request bytes are read and dropped. Closing a socket
 * with unread bytes makes the kernel send a reset, which can destroy the answer before the client reads it.
 */
const REFUSED_LINGER_MS = 1_000;

export interface ConnectionLimitOptions {
  /** Open connections one client address may hold at once. */
  maxPerClient: number | 'off';
  /**
   * Peers that are never capped: a proxy carries many clients over its connections. Addresses or CIDR ranges, the
   * list Fastify's `trustProxy` gets, read by the same library.
   */
  trustedProxies: readonly string[];
  logger: Logger;
  /** Told of every refused connection. */
  onRefused?: (() => void) | undefined;
}

/**
 * Caps the connections one peer address holds open on `server`. A connection over the cap is answered at once with
 * 429 TOO_MANY_CONNECTIONS (GraphQL-shaped JSON, `connection: close`) and closed; it never reaches Node's HTTP parser,
 * so whatever request it sends is never parsed or routed. The answer is the same bytes every time, built once.
 *
 * Addresses are counted exactly as the socket reports them: one IPv6 client holding many addresses of its prefix
 * counts as many clients.
 */
export function limitConnectionsPerClient(server: Server, options: ConnectionLimitOptions): void {
  const { maxPerClient } = options;
  if (maxPerClient === 'off') return;
  const trusted = options.trustedProxies.length > 0 ? proxyAddr.compile([...options.trustedProxies]) : () => false;
  const refusal = rawErrorResponse(429, ErrorCode.TooManyConnections, 'Too many open connections from this address', { 'retry-after': '1' });
  const open = new Map<string, number>();

  // http.Server parses a connection from its own 'connection' listener, which its constructor adds (the event is
  // documented as the way to hand a server a connection). Taking those listeners over is what lets a refused socket
  // bypass the parser: a listener added beside them would run after the parser is already attached.
  const serve = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address !== undefined && !trusted(address, 0)) {
      const count = open.get(address) ?? 0;
      if (count >= maxPerClient) {
        options.logger.info({ client: address, open: count }, 'connection refused: too many from this address');
        options.onRefused?.();
        refuse(socket, refusal);
        return;
      }
      open.set(address, count + 1);
      socket.once('close', () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left === 0) open.delete(address);
        else open.set(address, left);
      });
    }
    for (const listener of serve) listener.call(server, socket);
  });
}

function refuse(socket: Socket, response: Buffer): void {
  // The client may reset first; that is the end of it.
  socket.on('error', () => socket.destroy());
  socket.end(response);
  // Read and drop what the client sends, so that the close is a FIN after the answer, not a reset before it.
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}
