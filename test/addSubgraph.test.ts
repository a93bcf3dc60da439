import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateway } from './cli.js';
import { readTopology } from '../src/topology/composeFile.js';
import { launchTopology, type RunningTopology } from '../src/topology/launcher.js';
import { postGraphQL } from './harness.js';
import { loadOrCreateDevKey, signDevToken } from '../src/auth/devIssuer.js';

const ROOT = new URL('..', import.meta.url).pathname;

// The block the README tells an operator to add, for a subgraph that lives in test/fixtures.
const SHIPPING_SERVICE = `
  shipping:
    <<: *service
    command: ["node", "test/fixtures/shipping/main.mjs"]
    environment: { HOST: 0.0.0.0, PORT: "4005", GATEWAY_JWKS_URL: "http://gateway:4000/.well-known/jwks.json" }
    labels: { gateway.subgraph.url: "http://shipping:4005/graphql" }
    networks: [subgraphs]
    healthcheck:
      <<: *subgraph-healthcheck
      test: ["CMD", "node", "-e", "fetch('http://127.0.0.1:4005/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
`;

describe('adding a subgraph through the compose file', () => {
  let project: string;
  let running: RunningTopology | undefined;
  const output: string[] = [];

  beforeAll(async () => {
    // A copy of the project whose only edits are the ones an operator makes: the SDL file, one service block,
    // and `npm run compose`. Code and dependencies are shared with the real checkout through links.
    project = await mkdtemp(join(tmpdir(), 'add-subgraph-'));
    await cp(join(ROOT, 'schema'), join(project, 'schema'), { recursive: true });
    await cp(join(ROOT, 'test/fixtures/shipping/shipping.graphql'), join(project, 'schema/shipping.graphql'));
    for (const shared of ['dist', 'node_modules', 'test', 'package.json', 'frontend']) await symlink(join(ROOT, shared), join(project, shared));
    const compose = await readFile(join(ROOT, 'docker-compose.yml'), 'utf8');
    const at = compose.indexOf('\nnetworks:');
    await writeFile(join(project, 'docker-compose.yml'), `${compose.slice(0, at)}${SHIPPING_SERVICE}${compose.slice(at)}`);
    await mkdir(join(project, 'logs'));
  });

  afterAll(async () => {
    await running?.stop();
    await rm(project, { recursive: true, force: true });
  });

  it('after `npm run compose`, the new subgraph runs with the others and its fields are queryable through the gateway', async () => {
    const composed = await gateway(['compose', '--file', join(project, 'docker-compose.yml')], { cwd: project });
    expect(composed).toMatchObject({ code: 0, stdout: expect.stringContaining('accounts, products, inventory, reviews, shipping') });
    expect(await readFile(join(project, 'schema/supergraph.graphql'), 'utf8')).toContain('SHIPPING @join__graph(name: "shipping", url: "http://shipping:4005/graphql")');

    const topology = await readTopology(join(project, 'docker-compose.yml'));
    running = await launchTopology({
      topology,
      baseEnv: { PATH: process.env['PATH'], APOLLO_TELEMETRY_DISABLED: 'true', LOG_LEVEL: 'warn' },
      ports: 'ephemeral',
      gatewayEnv: { NODE_ENV: 'development', LOG_LEVEL: 'info' },
      output: (service, line) => output.push(`${service}: ${line}`),
      startTimeoutMs: 20_000,
    });
    expect(Object.keys(running.subgraphUrls)).toEqual(['accounts', 'products', 'inventory', 'reviews', 'shipping']);

    const response = await postGraphQL(running.gatewayUrl, '{ shippingCarriers topProducts(first: 2) { upc name inStock carriers } }');
    expect(response.status, output.join('\n')).toBe(200);
    expect(response.body).toEqual({
      data: {
        shippingCarriers: ['Parcelforce', 'DHL'],
        topProducts: [
          { upc: '1', name: 'Table', inStock: true, carriers: ['Parcelforce', 'DHL'] },
          { upc: '2', name: 'Couch', inStock: true, carriers: ['Parcelforce'] },
        ],
      },
    });

    // A field its team declared no access for stays denied, to everyone, and the permissions check names it.
    const undecided = await postGraphQL(running.gatewayUrl, '{ product(upc: "1") { name carbonFootprint } }');
    expect(undecided.body).toEqual({
      data: { product: { name: 'Table', carbonFootprint: null } },
      errors: [{ message: 'Not authorised', locations: [{ line: 1, column: 28 }], path: ['product', 'carbonFootprint'], extensions: { code: 'FORBIDDEN' } }],
    });
    // A field its team declared with @requiresScopes: decided by the caller's scopes.
    const key = await loadOrCreateDevKey(join(project, '.dev', 'dev-issuer-key.json'));
    const quote = async (scopes: string[]) => {
      const token = await signDevToken(key, { subject: '1', roles: [], scopes, ttlSec: 60 });
      return postGraphQL(running?.gatewayUrl ?? '', '{ shippingQuote(upc: "1") }', { headers: { authorization: `Bearer ${token}` } });
    };
    expect((await quote(['quotes:read'])).body).toEqual({ data: { shippingQuote: 499 } });
    expect((await quote(['quotes:admin', 'other'])).body).toEqual({ data: { shippingQuote: 499 } });
    const noScope = await quote(['other']);
    expect(noScope.body.data).toEqual({ shippingQuote: null });
    expect(noScope.body.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN' });

    const check = await gateway(['permissions', '--check', '--supergraph', join(project, 'schema/supergraph.graphql')]);
    expect(check).toMatchObject({ code: 1, stderr: expect.stringContaining('1 field(s) have no rule and are denied to everyone:\n  - Product.carbonFootprint\n') });
  }, 60_000);

  it('stops every process it started', async () => {
    const topology = running;
    expect(topology).toBeDefined();
    await topology?.stop();
    running = undefined;
    for (const url of [topology?.gatewayUrl ?? '', ...Object.values(topology?.subgraphUrls ?? {})]) {
      await expect(fetch(new URL('/health', url))).rejects.toThrow();
    }
  });
});
