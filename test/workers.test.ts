import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService, type ServiceProcess } from '../src/topology/launcher.js';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { loadOrCreateDevKey, signDevToken } from '../src/auth/devIssuer.js';
import { COMMITTED_SUPERGRAPH, startStack, waitFor, type Stack } from './harness.js';

/** POSTs a query on a connection of its own (no keep-alive), and answers its status. */
function onNewConnection(origin: string, query: string, headers: Record<string, string>): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${origin}/graphql`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
    });
    request.on('error', reject);
    request.end(JSON.stringify({ query }));
  });
}

const ROOT = new URL('..', import.meta.url).pathname;

describe('GATEWAY_WORKERS=2', () => {
  let stack: Stack;
  let dir: string;
  let cluster: ServiceProcess;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    // The subgraphs trust the keys of the stack's gateway: the cluster signs with the same key file.
    dir = await mkdtemp(join(tmpdir(), 'workers-'));
    const keyFile = join(dir, 'gateway-key.pem');
    await writeFile(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    stack = await startStack({ env: { GATEWAY_SIGNING_KEY_FILE: keyFile } });
    const env: Record<string, string | undefined> = {
      PATH: process.env['PATH'],
      PORT: '0',
      GATEWAY_CONFIG: 'dist/gateway.config.js',
      GATEWAY_WORKERS: '2',
      REDIS_URL: 'redis://127.0.0.1:6379',
      METRICS_PORT: '0',
      RATE_LIMIT_POINTS: '10',
      RATE_LIMIT_WINDOW_SEC: '60',
      GATEWAY_SIGNING_KEY_FILE: keyFile,
      DEV_KEY_FILE: join(dir, 'dev-issuer-key.json'),
      SUPERGRAPH_PATH: COMMITTED_SUPERGRAPH.pathname,
    };
    for (const name of ['accounts', 'products', 'inventory', 'reviews'] as const) env[`SUBGRAPH_${name.toUpperCase()}_URL`] = stack.subgraphs[name].url;
    cluster = spawnService({
      service: { name: 'gateway', command: ['node', 'dist/src/main.js'], environment: {} },
      cwd: ROOT,
      env,
      output: (_service, line) => {
        if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    });
    await cluster.url;
  });
  afterAll(async () => {
    cluster.kill();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs two gateway processes on one port, sharing one rate budget through Redis, with metrics summed over both, and drains both on SIGTERM', async () => {
    await waitFor(() => lines.filter((line) => line['msg'] === 'listening').length === 2);
    const origin = new URL(await cluster.url).origin;
    const key = await loadOrCreateDevKey(join(dir, 'dev-issuer-key.json'));
    const as = async (subject: string) => ({ authorization: `Bearer ${await signDevToken(key, { subject, roles: [], scopes: [], ttlSec: 120 })}` });
    // A new connection per request, so that the cluster hands them out to both workers in turn.
    let answered = 0;
    const query = async (subject: string) => {
      const { status } = await onNewConnection(origin, 'query W { topProducts(first: 1) { name } }', await as(subject));
      if (status === 200) answered += 1;
      return status;
    };

    // Each worker connects to Redis in the background and counts in memory until then: wait until both share.
    await waitFor(async () => {
      const probe = `probe-${randomUUID()}`;
      const statuses = [];
      for (let index = 0; index < 12; index += 1) statuses.push(await query(probe));
      return statuses.filter((status) => status === 200).length === 10;
    });
    const requestLines = lines.filter((line) => line['msg'] === 'request' && line['path'] === '/graphql');
    expect(new Set(requestLines.map((line) => line['worker'])).size).toBe(2);

    // One caller, 14 requests spread over both workers: the budget of 10 is one budget, not one per worker.
    const caller = `caller-${randomUUID()}`;
    const statuses = [];
    for (let index = 0; index < 14; index += 1) statuses.push(await query(caller));
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(4);

    const metricsUrl = String(lines.find((line) => line['msg'] === 'metrics listening')?.['url']);
    const metrics = await (await fetch(metricsUrl)).text();
    // Every answered request, whichever worker answered it.
    expect(metrics).toContain(`gateway_graphql_requests_total{operation="W",outcome="success"} ${answered}`);
    expect(metrics).toContain('gateway_rejections_total{reason="rate"}');

    cluster.child.kill('SIGTERM');
    expect(await cluster.exited).toBe(0);
    expect(lines.filter((line) => line['msg'] === 'stopped').length).toBe(3);
    await expect(fetch(`${origin}/health`)).rejects.toThrow();
  });
});
