import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService, type ServiceProcess } from '../src/topology/launcher.js';
import { slowProxy } from './slowProxy.js';
import { COMMITTED_SUPERGRAPH, postGraphQL, startStack, waitFor, type Stack } from './harness.js';

const ROOT = new URL('..', import.meta.url).pathname;
const DELAY_MS = 1_500;

describe('SIGTERM', () => {
  let stack: Stack;
  let proxy: { url: string; close(): void };
  let gateway: ServiceProcess;
  let origin: string;
  let signingKeyFile: string;

  beforeAll(async () => {
    // The subgraphs trust the keys of the stack's gateway; the gateway process under test signs with the same key file.
    const dir = await mkdtemp(join(tmpdir(), 'shutdown-'));
    signingKeyFile = join(dir, 'gateway-key.pem');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(signingKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    stack = await startStack({ env: { GATEWAY_SIGNING_KEY_FILE: signingKeyFile } });
    proxy = await slowProxy(stack.subgraphs.products.url, DELAY_MS);
    gateway = spawnService({
      service: { name: 'gateway', command: ['node', 'dist/src/main.js'], environment: {} },
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'],
        PORT: '0',
        GATEWAY_CONFIG: 'dist/gateway.config.js',
        LOG_LEVEL: 'warn',
        GATEWAY_SIGNING_KEY_FILE: signingKeyFile,
        DEV_KEY_FILE: join(dirname(signingKeyFile), 'dev-issuer-key.json'),
        SUPERGRAPH_PATH: COMMITTED_SUPERGRAPH.pathname,
        SUBGRAPH_ACCOUNTS_URL: stack.subgraphs.accounts.url,
        SUBGRAPH_PRODUCTS_URL: proxy.url,
        SUBGRAPH_INVENTORY_URL: stack.subgraphs.inventory.url,
        SUBGRAPH_REVIEWS_URL: stack.subgraphs.reviews.url,
      },
    });
    origin = new URL(await gateway.url).origin;
  });

  afterAll(async () => {
    gateway.kill();
    proxy.close();
    await stack.stop();
    await rm(dirname(signingKeyFile), { recursive: true, force: true });
  });

  it('takes no new connection, lets the request in flight finish, then exits 0', async () => {
    const inFlight = postGraphQL(origin, '{ topProducts(first: 2) { name } }');
    await waitFor(() => stack.subgraphs.products.counter.count('Query.topProducts') === 1);
    gateway.child.kill('SIGTERM');
    // While the answer is still held back, the gateway has stopped taking connections.
    await waitFor(async () => fetch(`${origin}/health`).then(() => false, () => true));
    expect(stack.subgraphs.products.counter.count('Query.topProducts')).toBe(1);

    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: { topProducts: [{ name: 'Table' }, { name: 'Couch' }] } });
    expect(await gateway.exited).toBe(0);
  });
});

describe('SHUTDOWN_DELAY_MS', () => {
  it('answers /ready 503 from the start of stopping and goes on serving, new connections included, until the delay has passed', async () => {
    // Long enough for the requests below on a loaded machine; it is what a load balancer would get to notice the 503.
    const stack = await startStack({ env: { SHUTDOWN_DELAY_MS: '2000' } });
    let stopping: Promise<void> | undefined;
    try {
      expect((await fetch(`${stack.url}/ready`)).status).toBe(200);
      stopping = stack.stop();
      const ready = await fetch(`${stack.url}/ready`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get('connection')).toBe('close');
      // So this request comes on a new connection, which the listener still takes.
      const answer = await stack.query('{ topProducts(first: 1) { name } }');
      expect(answer).toMatchObject({ status: 200, body: { data: { topProducts: [{ name: 'Table' }] } } });
      // Every answer during the drain closes its connection: no keep-alive outlives the listener.
      expect(answer.headers.get('connection')).toBe('close');
      await stopping;
      await expect(fetch(`${stack.url}/health`)).rejects.toThrow();
    } finally {
      await (stopping ?? stack.stop());
    }
  });
});
