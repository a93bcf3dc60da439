import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer } from '../src/http/httpServer.js';
import { createLogger } from '../src/common/logger.js';
import { ANONYMOUS } from '../src/auth/principal.js';

const options = {
  logger: createLogger({ level: 'silent' }),
  bodyLimitBytes: 1024,
  connections: { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 72_000, maxPerClient: 64 },
  sandbox: false,
  graphqlHandler: () => undefined,
  draining: () => false,
  authenticate: async () => ANONYMOUS,
  gatewayJwks: { keys: [] },
  trustedProxies: [],
  cors: { origins: [], credentials: false },
};

describe('the HTTP layer before a supergraph is loaded', () => {
  let app: ReturnType<typeof createHttpServer> | undefined;
  afterEach(async () => {
    await app?.close();
  });

  it('is healthy but not ready, and answers GraphQL requests with 503 NOT_READY', async () => {
    app = createHttpServer(options);
    const origin = await app.listen({ host: '127.0.0.1', port: 0 });
    expect((await fetch(`${origin}/health`)).status).toBe(200);

    const ready = await fetch(`${origin}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not ready' });

    const graphql = await fetch(`${origin}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(graphql.status).toBe(503);
    expect(graphql.headers.get('retry-after')).toBe('1');
    expect(await graphql.json()).toEqual({ errors: [{ message: 'The gateway is not ready to serve requests', extensions: { code: 'NOT_READY' } }] });
  });

  it('answers a body that is not JSON with 400 BAD_REQUEST and an unsupported content type with 415', async () => {
    app = createHttpServer(options);
    const origin = await app.listen({ host: '127.0.0.1', port: 0 });
    const broken = await fetch(`${origin}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toEqual({ errors: [{ message: 'The request could not be read', extensions: { code: 'BAD_REQUEST' } }] });
    const xml = await fetch(`${origin}/graphql`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<query/>' });
    expect(xml.status).toBe(415);
    expect(await xml.json()).toEqual({ errors: [{ message: 'Send GraphQL requests as application/json', extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' } }] });
  });
});
