import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService, type ServiceProcess } from '../src/topology/launcher.js';
import { COMMITTED_SUPERGRAPH, postGraphQL, startStack, waitFor, type Stack } from './harness.js';

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
      GATEWAY_WORKERS: '2',
      REDIS_URL: 'redis://127.0.0.1:6379',
      METRICS_PORT: '0',
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

  it('runs two gateway processes on one port, with metrics summed over both, and drains both on SIGTERM', async () => {
    await waitFor(() => lines.filter((line) => line['msg'] === 'listening').length === 2);
    const origin = new URL(await cluster.url).origin;
    const answers = await Promise.all(Array.from({ length: 20 }, () => postGraphQL(origin, 'query W { topProducts(first: 1) { name } }')));
    for (const answer of answers) expect(answer.body).toEqual({ data: { topProducts: [{ name: 'Table' }] } });

    const metricsUrl = String(lines.find((line) => line['msg'] === 'metrics listening')?.['url']);
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toContain('gateway_graphql_requests_total{operation="W",outcome="success"} 20');

    cluster.child.kill('SIGTERM');
    expect(await cluster.exited).toBe(0);
    expect(lines.filter((line) => line['msg'] === 'stopped').length).toBe(3);
    await expect(fetch(`${origin}/health`)).rejects.toThrow();
  });
});
