import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../src/auth/principal.js';
import type { GatewayContext } from '../src/context.js';
import { createFormatError } from '../src/errors.js';
import { SubgraphResponseTooLargeError, SubgraphStatusError, SubgraphTimeoutError, SubgraphUnreachableError } from '../src/upstream/subgraphErrors.js';
import { subgraphDataSources } from '../src/upstream/subgraphDataSource.js';
import { startStack, waitFor, type Stack } from './harness.js';

// The subgraph transport (src/upstream/subgraphTransport.ts) against real servers on port 0: a subgraph-like server
// in front of inventory that counts its connections and misbehaves on demand, through the whole gateway; and the
// data sources alone, for what needs settings the gateway does not expose (a small pool, a small cap).

const GIB = 1024 ** 3;

type Behaviour =
  | { kind: 'forward' }
  | { kind: 'hang' }
  | { kind: 'close mid-response' }
  | { kind: 'huge, announced' }
  | { kind: 'huge, chunked' }
  | { kind: 'status'; status: number };

/** A subgraph-like server in front of a subgraph: forwards, or misbehaves as told, and counts what it sees. */
class MisbehavingSubgraph {
  behaviour: Behaviour = { kind: 'forward' };
  connections = 0;
  requests = 0;
  /** Bytes written of the last huge answer before the gateway stopped reading. */
  hugeBytesWritten = 0;
  readonly open = new Set<Socket>();
  private server: Server | undefined;
  private target = '';

  async start(target: string): Promise<{ url: string; close(): void }> {
    this.target = target;
    const server = createServer((request, response) => void this.handle(request, response));
    server.on('connection', (socket) => {
      this.connections += 1;
      this.open.add(socket);
      socket.on('close', () => this.open.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, close: () => this.close() };
  }

  close(): void {
    this.server?.closeAllConnections();
    this.server?.close();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    this.requests += 1;
    const behaviour = this.behaviour;
    switch (behaviour.kind) {
      case 'forward': {
        const answer = await fetch(this.target, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: request.headers.authorization ?? '' },
          body: Buffer.concat(chunks),
        });
        response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(await answer.text());
        return;
      }
      case 'hang':
        return;
      case 'close mid-response':
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        response.write('{"data":{"_entities":[{"inSto');
        setTimeout(() => response.socket?.destroy(), 20);
        return;
      case 'huge, announced':
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(GIB) });
        await this.writeHuge(response);
        return;
      case 'huge, chunked':
        response.writeHead(200, { 'content-type': 'application/json' });
        await this.writeHuge(response);
        return;
      case 'status':
        response
          .writeHead(behaviour.status, { 'content-type': 'text/html', location: 'http://inventory.internal:4003/graphql' })
          .end('<h1>Error at http://inventory.internal:4003/graphql (10.0.0.7)</h1>');
        return;
      default: {
        const unknown: never = behaviour;
        throw new Error(`unknown behaviour ${JSON.stringify(unknown)}`);
      }
    }
  }

  /** Writes up to a gigabyte as fast as the reader takes it, and stops when the connection closes. */
  private async writeHuge(response: ServerResponse): Promise<void> {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    this.hugeBytesWritten = 0;
    let closed = false;
    response.on('close', () => {
      closed = true;
    });
    response.write('{"data":{"_entities":["');
    while (!closed && this.hugeBytesWritten < GIB) {
      this.hugeBytesWritten += chunk.length;
      if (!response.write(chunk)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            response.off('drain', go).off('close', go);
            resolve();
          };
          response.on('drain', go).on('close', go);
        });
      }
    }
    if (!closed) response.end('"]}}');
  }
}

const QUERY = '{ topProducts(first: 2) { upc name inStock } }';
const WITHOUT_INVENTORY = { topProducts: [{ upc: '1', name: 'Table', inStock: null }, { upc: '2', name: 'Couch', inStock: null }] };
const unavailable = { message: 'A service needed for this field is unavailable', extensions: { code: 'SERVICE_UNAVAILABLE' } };
const internal = { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };

describe('the subgraph transport, through the gateway', () => {
  const inventory = new MisbehavingSubgraph();
  let stack: Stack;
  let served: unknown;

  beforeAll(async () => {
    stack = await startStack({ through: { inventory: (url) => inventory.start(url) }, env: { SUBGRAPH_INVENTORY_TIMEOUT_MS: '1000' } });
    const first = await stack.query(QUERY);
    expect(first.body.errors).toBeUndefined();
    served = first.body;
  });
  afterAll(() => stack.stop());
  afterEach(async () => {
    // Whatever the subgraph did, the gateway serves the next request, in full.
    inventory.behaviour = { kind: 'forward' };
    const next = await stack.query(QUERY);
    expect(next.body).toEqual(served);
  });

  /** The client's answer to QUERY, checked to name no backend, with the gateway's log lines for it. */
  const ask = async () => {
    const response = await stack.query(QUERY);
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual(WITHOUT_INVENTORY);
    expect(JSON.stringify(response.body)).not.toMatch(/127\.0\.0\.1|10\.0\.0\.7|inventory|internal:|http:|serviceName|stack|ECONN|UND_ERR|bytes/i);
    const requestId = response.headers.get('x-request-id');
    return { errors: response.body.errors, logs: stack.logs.filter((line) => line['requestId'] === requestId) };
  };

  it('reuses one keep-alive connection for request after request', async () => {
    const connections = inventory.connections;
    const requests = inventory.requests;
    for (let i = 0; i < 20; i += 1) expect((await stack.query(QUERY)).body).toEqual(served);
    expect(inventory.requests - requests).toBe(20);
    expect(inventory.connections - connections).toBe(0);
    expect(inventory.open.size).toBe(1);
  });

  it('gives up on a subgraph that does not answer within its deadline: SERVICE_UNAVAILABLE', async () => {
    inventory.behaviour = { kind: 'hang' };
    const started = performance.now();
    const { errors, logs } = await ask();
    const elapsed = performance.now() - started;
    expect(errors).toEqual([unavailable]);
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(3_000);
    expect(JSON.stringify(logs)).toContain('did not answer within 1000 ms');
  });

  it('answers SERVICE_UNAVAILABLE when the subgraph closes the connection half way through its answer', async () => {
    inventory.behaviour = { kind: 'close mid-response' };
    const { errors, logs } = await ask();
    expect(errors).toEqual([unavailable]);
    expect(JSON.stringify(logs)).toContain('SubgraphUnreachableError');
  });

  it('refuses an answer that announces a gigabyte before reading any of it', async () => {
    inventory.behaviour = { kind: 'huge, announced' };
    const { errors, logs } = await ask();
    expect(errors).toEqual([internal]);
    expect(inventory.hugeBytesWritten).toBeLessThan(64 * 1024 ** 2);
    expect(JSON.stringify(logs)).toContain(`announced an answer of ${GIB} bytes, more than the 16777216 the gateway reads of one subgraph answer: refused`);
  });

  it('stops reading a gigabyte sent without a length once it passes the cap', async () => {
    inventory.behaviour = { kind: 'huge, chunked' };
    const { errors, logs } = await ask();
    expect(errors).toEqual([internal]);
    // The cap (16 MiB), plus what the sockets buffered: the rest of the gigabyte was never sent.
    expect(inventory.hugeBytesWritten).toBeGreaterThan(16 * 1024 ** 2);
    expect(inventory.hugeBytesWritten).toBeLessThan(64 * 1024 ** 2);
    expect(JSON.stringify(logs)).toContain("answer passed 16777216 bytes, the most the gateway reads of one subgraph answer: refused");
  });

  it.each([
    [503, 'SERVICE_UNAVAILABLE'],
    [502, 'SERVICE_UNAVAILABLE'],
    [504, 'SERVICE_UNAVAILABLE'],
    [429, 'SERVICE_UNAVAILABLE'],
    [500, 'INTERNAL_SERVER_ERROR'],
    [404, 'INTERNAL_SERVER_ERROR'],
    [401, 'INTERNAL_SERVER_ERROR'],
    [403, 'INTERNAL_SERVER_ERROR'],
    [400, 'INTERNAL_SERVER_ERROR'],
  ])("maps a subgraph's HTTP %i to %s, without its URL or body", async (status, code) => {
    inventory.behaviour = { kind: 'status', status };
    const { errors, logs } = await ask();
    expect(errors).toEqual([code === 'SERVICE_UNAVAILABLE' ? unavailable : internal]);
    expect(JSON.stringify(logs)).toContain(`the inventory subgraph answered HTTP ${status}`);
  });

  it('answers SERVICE_UNAVAILABLE when the subgraph is not listening, and the log says why', async () => {
    const down = await startStack();
    try {
      await down.stopSubgraph('inventory');
      const response = await down.query(QUERY);
      expect(response.body).toEqual({ data: WITHOUT_INVENTORY, errors: [unavailable] });
      expect(JSON.stringify(down.logs)).toMatch(/SubgraphUnreachableError.*ECONNREFUSED/);
    } finally {
      await down.stop();
    }
  });
});

describe('the subgraph pools when the gateway stops', () => {
  it('closes the keep-alive connections at once', async () => {
    const inventory = new MisbehavingSubgraph();
    // Left open by the stack's stop(), to see the gateway close its side.
    const stack = await startStack({ through: { inventory: async (url) => ({ url: (await inventory.start(url)).url, close: () => undefined }) } });
    try {
      expect((await stack.query(QUERY)).body.errors).toBeUndefined();
      expect(inventory.open.size).toBe(1);
      await stack.stop();
      // Idle, the connection would stay open for undici's keep-alive timeout (4 s).
      await waitFor(() => inventory.open.size === 0, 1_000);
    } finally {
      await stack.stop();
      inventory.close();
    }
  });
});

/** A subgraph-like server for the data sources alone: answers `{ data: { n } }`, held back `holdMs`. */
async function countingServer(answer: (request: IncomingMessage, response: ServerResponse) => void, holdMs = 0) {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => setTimeout(() => answer(request, response), holdMs));
  });
  server.on('connection', (socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    connections: () => connections,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

// @apollo/gateway does not export its GraphQLDataSourceRequestKind enum; this is its value for a client's operation.
const INCOMING_OPERATION = 'incoming operation' as Extract<GraphQLDataSourceProcessOptions, { incomingRequestContext: unknown }>['kind'];
const context: GatewayContext = { requestId: 'test', principal: ANONYMOUS, clientToken: undefined, forwardedHeaders: {}, clientIp: '127.0.0.1', trustedDocument: false };

describe('the subgraph data sources alone', () => {
  const build = (url: string, settings: { connectionsPerOrigin?: number; maxResponseBytes?: number; timeoutMs?: number } = {}) => {
    const sources = subgraphDataSources({
      urls: {},
      timeoutMs: settings.timeoutMs ?? 5_000,
      timeouts: {},
      tokens: { tokenFor: async () => 'minted' },
      authMode: 'mint',
      authModes: {},
      deduplicate: false,
      ...settings,
    });
    const source = sources.buildService({ name: 'things', url });
    const ask = (n: number) =>
      source.process({
        kind: INCOMING_OPERATION,
        request: { query: 'query ($n: Int) { n(n: $n) }', variables: { n } },
        context,
        incomingRequestContext: {} as never,
      });
    return { ask, close: () => sources.close() };
  };

  it('opens no more connections to an origin than its pool allows, and queues the rest', async () => {
    const server = await countingServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"n":1}}'), 100);
    const { ask, close } = build(server.url, { connectionsPerOrigin: 2 });
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => ask(n)));
      for (const answer of answers) expect(answer.data).toEqual({ n: 1 });
      expect(server.connections()).toBe(2);
    } finally {
      await close();
      server.close();
    }
  });

  it('counts the wait for a connection inside the deadline', async () => {
    // Each answer takes 700 ms: the first is in time (400 ms to spare, for a loaded machine), the second waits 700 ms
    // for the one connection and cannot finish before 1400 ms, past its 1100 ms deadline.
    const server = await countingServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"n":1}}'), 700);
    const { ask, close } = build(server.url, { connectionsPerOrigin: 1, timeoutMs: 1_100 });
    try {
      const settled = await Promise.allSettled([ask(1), ask(2)]);
      expect(settled[0]?.status).toBe('fulfilled');
      expect(settled[1]).toMatchObject({ status: 'rejected', reason: expect.any(SubgraphTimeoutError) });
    } finally {
      await close();
      server.close();
    }
  });

  it('counts the body inside the deadline: headers in time and a body that stalls are a timeout', async () => {
    const server = await countingServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"data":');
    });
    const { ask, close } = build(server.url, { timeoutMs: 300 });
    try {
      const started = performance.now();
      await expect(ask(1)).rejects.toBeInstanceOf(SubgraphTimeoutError);
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      await close();
      server.close();
    }
  });

  it('reads an answer up to the cap, and refuses one byte more', async () => {
    const body = (size: number) => `{"data":{"n":"${'x'.repeat(size - '{"data":{"n":""}}'.length)}"}}`;
    let size = 1024;
    const server = await countingServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(body(size)));
    const { ask, close } = build(server.url, { maxResponseBytes: 1024 });
    try {
      expect(((await ask(1)).data as { n: string }).n).toHaveLength(1024 - '{"data":{"n":""}}'.length);
      size = 1025;
      await expect(ask(2)).rejects.toBeInstanceOf(SubgraphResponseTooLargeError);
    } finally {
      await close();
      server.close();
    }
  });

  it('rejects with a SubgraphUnreachableError, its cause kept, when nothing listens', async () => {
    const server = await countingServer(() => undefined);
    server.close();
    const { ask, close } = build(server.url);
    try {
      const failure = await ask(1).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(SubgraphUnreachableError);
      expect(failure).toMatchObject({ subgraph: 'things', code: 'SUBGRAPH_UNREACHABLE', cause: expect.objectContaining({ code: 'ECONNREFUSED' }) });
    } finally {
      await close();
    }
  });
});

describe('what the masking makes of each subgraph failure, by its class', () => {
  const formatError = createFormatError({ publicSubgraphCodes: ['BAD_USER_INPUT'], showLimitValues: false });
  const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:4003'), { code: 'ECONNREFUSED' });

  it.each<[string, string, Error]>([
    ['unreachable', 'SERVICE_UNAVAILABLE', new SubgraphUnreachableError('inventory', 'the inventory subgraph at http://10.0.0.7:4003/graphql could not be reached', { cause })],
    ['timed out', 'SERVICE_UNAVAILABLE', new SubgraphTimeoutError('inventory', 5_000)],
    ['HTTP 503', 'SERVICE_UNAVAILABLE', new SubgraphStatusError('inventory', 503, 'at http://10.0.0.7:4003')],
    ['HTTP 500', 'INTERNAL_SERVER_ERROR', new SubgraphStatusError('inventory', 500, 'at http://10.0.0.7:4003')],
    ['too large', 'INTERNAL_SERVER_ERROR', new SubgraphResponseTooLargeError('inventory', 1024)],
  ])('%s, raw or wrapped, becomes %s with no URL', (_case, code, failure) => {
    for (const error of [failure, new GraphQLError(failure.message, { originalError: failure })]) {
      const formatted = formatError({ message: failure.message, extensions: { code: 'INTERNAL_SERVER_ERROR' } }, error);
      expect(formatted.extensions).toEqual({ code });
      expect(formatted.message).not.toMatch(/http|10\.0\.0\.7|inventory/);
    }
  });

  it('does not take an error that only calls itself SubgraphUnreachableError for one', () => {
    const impostor = Object.assign(new Error('the inventory subgraph at http://10.0.0.7 could not be reached'), { name: 'SubgraphUnreachableError', code: 'SUBGRAPH_UNREACHABLE' });
    expect(formatError({ message: impostor.message }, impostor)).toEqual(internal);
  });
});
