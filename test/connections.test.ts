import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../src/auth/principal.js';
import type { ConnectionsConfig } from '../src/config/index.js';
import { createHttpServer } from '../src/http/httpServer.js';
import { createLogger } from '../src/common/logger.js';
import { startStack, type Stack } from './harness.js';
import { exchange } from './rawHttp.js';

// Every refusal below is answered by the gateway itself, so its exact bytes are part of the contract.
const REQUEST_TIMEOUT = '{"errors":[{"message":"The request did not arrive in time","extensions":{"code":"REQUEST_TIMEOUT"}}]}';
const HEADERS_TOO_LARGE = '{"errors":[{"message":"The request headers are too large","extensions":{"code":"REQUEST_HEADER_FIELDS_TOO_LARGE"}}]}';
const MALFORMED = '{"errors":[{"message":"The request could not be read","extensions":{"code":"BAD_REQUEST"}}]}';
const TOO_MANY_CONNECTIONS = '{"errors":[{"message":"Too many open connections from this address","extensions":{"code":"TOO_MANY_CONNECTIONS"}}]}';

const POST_HEAD = 'POST /graphql HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n';
const HEALTH = 'GET /health HTTP/1.1\r\nhost: gateway\r\n\r\n';

const clients = new Set<Socket>();

/** A raw TCP connection, once it is established; destroyed after the test whatever happened. */
async function open(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  clients.add(socket);
  // A server that closes while the client still writes may reset the connection; the test looks at what arrived.
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** Everything the server sends until the connection closes, and whether the server ended it (its FIN reached us). */
function untilClosed(socket: Socket): Promise<{ text: string; endedByServer: boolean }> {
  let text = '';
  let endedByServer = false;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.once('end', () => {
    endedByServer = true;
  });
  return new Promise((resolve) => socket.once('close', () => resolve({ text, endedByServer })));
}

/** Writes `byte` every 200 ms until the server ends the connection. */
function drip(socket: Socket, byte = 'a'): void {
  const timer = setInterval(() => {
    if (socket.writable) socket.write(byte);
  }, 200);
  socket.once('end', () => clearInterval(timer));
  socket.once('close', () => clearInterval(timer));
}

function parse(text: string): { statusLine: string; headers: Record<string, string>; body: string } {
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { statusLine, headers, body: text.slice(split + 4) };
}

/** A whole raw answer: this status line, GraphQL-shaped JSON exactly `body`, the connection closed, nothing internal. */
function expectRefusal(text: string, statusLine: string, body: string): void {
  const answer = parse(text);
  expect(answer.statusLine).toBe(statusLine);
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(answer.headers['connection']).toBe('close');
  expect(answer.headers['x-content-type-options']).toBe('nosniff');
  expect(answer.headers['cache-control']).toBe('no-store');
  expect(answer.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  expect(answer.body).toBe(body);
  expect(text).not.toMatch(/node_modules|\n\s*at \S+ \(|Error:/);
}

/** GET /health on a new connection answers 200: the server survived whatever the test did. */
async function expectHealthy(port: number): Promise<void> {
  const answer = parse(await exchange(await open(port), HEALTH));
  expect(answer.statusLine).toBe('HTTP/1.1 200 OK');
  expect(answer.body).toBe('{"status":"ok"}');
}

function collectingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

let app: ReturnType<typeof createHttpServer> | undefined;
afterEach(async () => {
  for (const socket of clients) socket.destroy();
  clients.clear();
  await app?.close();
  app = undefined;
});

/** The HTTP layer alone on port 0, with timeouts short enough for a test. */
async function serve(options: { connections?: Partial<ConnectionsConfig>; trustedProxies?: string[] } = {}) {
  const { lines, logger } = collectingLogger();
  const rejected: string[] = [];
  app = createHttpServer({
    logger,
    bodyLimitBytes: 64 * 1024,
    connections: { requestTimeoutMs: 1_000, headersTimeoutMs: 1_000, keepAliveTimeoutMs: 5_000, maxPerClient: 64, ...options.connections },
    sandbox: false,
    graphqlHandler: () => undefined,
    draining: () => false,
    authenticate: async () => ANONYMOUS,
    gatewayJwks: { keys: [] },
    trustedProxies: options.trustedProxies ?? [],
    cors: { origins: [], credentials: false },
    onRejected: (reason) => rejected.push(reason),
  });
  // Registered after the connection cap, so this sees a socket's close only once the cap has counted it.
  const accepted: Socket[] = [];
  app.server.on('connection', (socket: Socket) => accepted.push(socket));
  const routedPorts = new Set<number | undefined>();
  app.addHook('onRequest', async (request) => {
    routedPorts.add(request.raw.socket.remotePort);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const refusals = () => lines.filter((line) => line['msg'] === 'request refused' || String(line['msg']).startsWith('connection refused'));
  /** Whether a request from the client connection on this local port reached Fastify's routing. */
  const routed = (clientPort: number | undefined) => clientPort !== undefined && routedPorts.has(clientPort);
  /** The server's end of a client's connection. */
  const serverSideOf = (client: Socket) => accepted.find((socket) => socket.remotePort === client.localPort);
  return { port, rejected, refusals, routed, serverSideOf };
}

describe('timeouts: a client that sends slowly is answered 408 and its connection closed', () => {
  it('answers a body that drips a byte every 200 ms with 408 REQUEST_TIMEOUT, closes the connection, and logs one line', async () => {
    const { port, rejected, refusals } = await serve();
    const socket = await open(port);
    const closed = untilClosed(socket);
    socket.write(POST_HEAD);
    drip(socket);

    const { text, endedByServer } = await closed;
    expect(endedByServer).toBe(true);
    expectRefusal(text, 'HTTP/1.1 408 Request Timeout', REQUEST_TIMEOUT);
    expect(refusals()).toEqual([{ level: 30, time: expect.any(String), client: '127.0.0.1', status: 408, cause: 'ERR_HTTP_REQUEST_TIMEOUT', msg: 'request refused' }]);
    expect(rejected).toEqual(['timeout']);
    await expectHealthy(port);
  }, 10_000);

  // Node's own headers timeout would be 60 s here (the smaller of 60 s and the request timeout): only
  // HEADERS_TIMEOUT_MS can end this within the test's 10 s.
  it('answers headers that drip with 408 once the headers timeout passes, however long the request timeout', async () => {
    const { port, rejected } = await serve({ connections: { requestTimeoutMs: 600_000, headersTimeoutMs: 1_000 } });
    const socket = await open(port);
    const closed = untilClosed(socket);
    socket.write('POST /graphql HTTP/1.1\r\nhost: gateway\r\nx-drip: ');
    drip(socket);

    const { text, endedByServer } = await closed;
    expect(endedByServer).toBe(true);
    expectRefusal(text, 'HTTP/1.1 408 Request Timeout', REQUEST_TIMEOUT);
    expect(rejected).toEqual(['timeout']);
    await expectHealthy(port);
  }, 10_000);

  it('answers a connection that sends nothing with 408 once the headers timeout passes', async () => {
    const { port, rejected } = await serve({ connections: { requestTimeoutMs: 600_000, headersTimeoutMs: 1_000 } });
    const { text, endedByServer } = await untilClosed(await open(port));
    expect(endedByServer).toBe(true);
    expectRefusal(text, 'HTTP/1.1 408 Request Timeout', REQUEST_TIMEOUT);
    expect(rejected).toEqual(['timeout']);
    await expectHealthy(port);
  }, 10_000);

  // Fastify's default keep-alive timeout is 72 s: only KEEP_ALIVE_TIMEOUT_MS can end this within the test's 10 s.
  it('closes a kept-alive connection that stays idle after its response, without a refusal', async () => {
    const { port, rejected, refusals } = await serve({ connections: { keepAliveTimeoutMs: 1_000 } });
    const socket = await open(port);
    const closed = untilClosed(socket);
    const answer = parse(await exchange(socket, HEALTH));
    expect(answer.statusLine).toBe('HTTP/1.1 200 OK');
    expect(answer.headers['keep-alive']).toBe('timeout=1');

    const { endedByServer } = await closed;
    expect(endedByServer).toBe(true);
    expect(refusals()).toEqual([]);
    expect(rejected).toEqual([]);
  }, 10_000);
});

describe('requests Node cannot parse are answered with GraphQL-shaped JSON', () => {
  it('answers headers over 16 KiB with 431 REQUEST_HEADER_FIELDS_TOO_LARGE', async () => {
    const { port, rejected, refusals } = await serve();
    const socket = await open(port);
    const closed = untilClosed(socket);
    socket.write(`GET /health HTTP/1.1\r\nhost: gateway\r\nx-large: ${'a'.repeat(17 * 1024)}\r\n\r\n`);

    const { text } = await closed;
    expectRefusal(text, 'HTTP/1.1 431 Request Header Fields Too Large', HEADERS_TOO_LARGE);
    expect(refusals()).toEqual([{ level: 30, time: expect.any(String), client: '127.0.0.1', status: 431, cause: 'HPE_HEADER_OVERFLOW', msg: 'request refused' }]);
    expect(rejected).toEqual(['size']);
    await expectHealthy(port);
  });

  // Framing that two parsers may read differently is how requests are smuggled past a proxy: refused, never guessed.
  // Which HPE_* code llhttp raises for each differs between Node versions; any of them is the same refusal.
  it.each([
    ['Content-Length with Transfer-Encoding', 'content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding with Content-Length', 'transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'content-length: 2\r\ncontent-length: 5\r\n\r\n{}'],
    ['a chunk size that is not hexadecimal', 'transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
  ])('answers %s with 400 BAD_REQUEST', async (_name, framing) => {
    const { port, rejected, refusals } = await serve();
    const socket = await open(port);
    const closed = untilClosed(socket);
    socket.write(`POST /graphql HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n${framing}`);

    const { text } = await closed;
    expectRefusal(text, 'HTTP/1.1 400 Bad Request', MALFORMED);
    expect(refusals()).toEqual([{ level: 30, time: expect.any(String), client: '127.0.0.1', status: 400, cause: expect.stringMatching(/^HPE_/), msg: 'request refused' }]);
    expect(rejected).toEqual(['malformed']);
    await expectHealthy(port);
  });
});

describe('the per-client connection cap', () => {
  it('refuses a connection over MAX_CONNECTIONS_PER_CLIENT with 429 TOO_MANY_CONNECTIONS, keeps the others, and accepts one again once one closes', async () => {
    const { port, rejected, refusals, routed, serverSideOf } = await serve({ connections: { maxPerClient: 3 } });
    const first = await open(port);
    const held = [first, await open(port), await open(port)];
    for (const socket of held) expect(parse(await exchange(socket, HEALTH)).statusLine).toBe('HTTP/1.1 200 OK');

    const extra = await open(port);
    // Read now: a closed socket no longer has a port.
    const extraPort = extra.localPort;
    const closed = untilClosed(extra);
    extra.write(HEALTH);
    const { text, endedByServer } = await closed;
    expect(endedByServer).toBe(true);
    expectRefusal(text, 'HTTP/1.1 429 Too Many Requests', TOO_MANY_CONNECTIONS);
    expect(parse(text).headers['retry-after']).toBe('1');
    expect(refusals()).toEqual([{ level: 30, time: expect.any(String), client: '127.0.0.1', open: 3, msg: 'connection refused: too many from this address' }]);
    expect(rejected).toEqual(['connection']);

    for (const socket of held) expect(parse(await exchange(socket, HEALTH)).statusLine).toBe('HTTP/1.1 200 OK');
    // The refused connection's request was never parsed, so never run (a POST /graphql would have executed).
    expect(routed(first.localPort)).toBe(true);
    expect(routed(extraPort)).toBe(false);

    const serverSide = serverSideOf(first);
    if (serverSide === undefined) throw new Error('the server never saw the first connection');
    first.end();
    await once(serverSide, 'close');
    await expectHealthy(port);
  });

  it.each([['127.0.0.1'], ['127.0.0.0/8']])('does not cap connections from a trusted proxy (%s)', async (proxy) => {
    const { port, rejected } = await serve({ connections: { maxPerClient: 1 }, trustedProxies: [proxy] });
    const held = [await open(port), await open(port), await open(port)];
    for (const socket of held) expect(parse(await exchange(socket, HEALTH)).statusLine).toBe('HTTP/1.1 200 OK');
    expect(rejected).toEqual([]);
  });

  it('counts nothing with the cap off (MAX_CONNECTIONS_PER_CLIENT=0)', async () => {
    const { port, rejected } = await serve({ connections: { maxPerClient: 'off' } });
    const held = [await open(port), await open(port), await open(port)];
    for (const socket of held) expect(parse(await exchange(socket, HEALTH)).statusLine).toBe('HTTP/1.1 200 OK');
    expect(rejected).toEqual([]);
  });
});

describe('timeouts through the whole gateway', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { REQUEST_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '1000' } });
  });
  afterAll(() => stack.stop());

  // 10 s: Node's default check of its timers, every 30 s, would let this body drip on past the test.
  it('answers a GraphQL request whose body drips with 408 REQUEST_TIMEOUT, logs one line, and counts the rejection', async () => {
    const socket = await open(Number(new URL(stack.url).port));
    const closed = untilClosed(socket);
    socket.write(POST_HEAD);
    socket.write('{"query":"{ __typename');
    drip(socket, ' ');

    const { text, endedByServer } = await closed;
    expect(endedByServer).toBe(true);
    expectRefusal(text, 'HTTP/1.1 408 Request Timeout', REQUEST_TIMEOUT);
    const refused = stack.logs.filter((line) => line['msg'] === 'request refused');
    expect(refused).toEqual([{ level: 30, time: expect.any(String), client: '127.0.0.1', status: 408, cause: 'ERR_HTTP_REQUEST_TIMEOUT', msg: 'request refused' }]);

    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toContain('gateway_rejections_total{reason="timeout"} 1');
    expect((await fetch(`${stack.url}/health`)).status).toBe(200);
  }, 10_000);
});
