import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { STATIC_FILES } from '../frontend/build/staticFiles.js';
import type { StorefrontRuntimeConfig } from '../frontend/src/runtimeConfig.js';
import { parseTopology, type RestartPolicy } from '../src/topology/composeFile.js';
import { composeSupergraph } from '../src/topology/composeSupergraph.js';
import { freePorts } from '../src/topology/freePorts.js';
import { launchTopology, restartDelayMs, restartsAfter, type RunningTopology, type ServiceRestart } from '../src/topology/launcher.js';
import { createPrettyOutput } from '../src/topology/prettyOutput.js';
import { postGraphQL, waitFor } from './harness.js';

const ROOT = new URL('..', import.meta.url).pathname;
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');

// Two subgraphs are enough to see one fail while the other answers: products serves `name`, inventory `inStock`.
const QUERY = '{ topProducts(first: 2) { upc name inStock } }';
const FULL = { data: { topProducts: [{ upc: '1', name: 'Table', inStock: true }, { upc: '2', name: 'Couch', inStock: true }] } };
const WITHOUT_INVENTORY = {
  data: { topProducts: [{ upc: '1', name: 'Table', inStock: null }, { upc: '2', name: 'Couch', inStock: null }] },
  errors: [{ message: 'A service needed for this field is unavailable', extensions: { code: 'SERVICE_UNAVAILABLE' } }],
};

type Service = 'gateway' | 'products' | 'inventory' | 'storefront';
/** The three services every topology here has; the storefront only where a test looks at apps. */
type Restarts = Record<'gateway' | 'products' | 'inventory', string> & { storefront?: string };

/**
 * docker-compose.yml cut down to the gateway, products, inventory (and the storefront, when given), each with the
 * given `restart` value, as YAML again: the launcher is given a compose file, read as npm start reads one.
 */
async function composeFile(restart: Restarts): Promise<string> {
  const file = parseYaml(await readFile(COMPOSE_FILE, 'utf8'), { merge: true }) as { services: Record<string, Record<string, unknown>> };
  const services = (Object.entries(restart) as [Service, string][]).map(([name, policy]) => [name, { ...file.services[name], restart: policy }]);
  return stringifyYaml({ services: Object.fromEntries(services) });
}

interface Launched {
  running: RunningTopology;
  restarts: ServiceRestart[];
  /** Each `listening` URL a service logged, in order. */
  listening: { service: string; url: string }[];
  /** Every line the processes wrote, for failure messages. */
  output: string[];
  /** Until the returned function is called, the next restart waits (the service stays down). */
  holdRestarts(): () => void;
  query(): Promise<unknown>;
  stop(): Promise<void>;
}

/** Launches the three-process topology (four with the storefront) on ephemeral ports, recording its restarts and output; stop() cleans up. */
async function launch(restart: Restarts): Promise<Launched> {
  const dir = await mkdtemp(join(tmpdir(), 'launcher-'));
  const topology = parseTopology(await composeFile(restart), ROOT, 'launcher.test compose file');
  const composed = await composeSupergraph(topology.subgraphs);
  if (!composed.ok) throw new Error(composed.errors.join('\n'));
  await writeFile(join(dir, 'supergraph.graphql'), composed.supergraphSdl);
  // The storefront serves whatever its files hold: stand-ins will do here (`npm test` does not bundle the page).
  const staticDir = join(dir, 'public');
  await mkdir(staticDir);
  for (const file of STATIC_FILES) await writeFile(join(staticDir, file), `stand-in ${file}`);

  const restarts: ServiceRestart[] = [];
  const listening: Launched['listening'] = [];
  const output: string[] = [];
  let hold: Promise<void> = Promise.resolve();
  let running: RunningTopology;
  try {
    running = await launchTopology({
      topology,
      baseEnv: {
        PATH: process.env['PATH'],
        APOLLO_TELEMETRY_DISABLED: 'true',
        LOG_LEVEL: 'warn',
      },
      ports: 'ephemeral',
      // The supergraph of these two subgraphs, and a development key of the test's own.
      // The cache off: a cached answer would hide the subgraph these tests stop.
      gatewayEnv: { NODE_ENV: 'development', SUPERGRAPH_PATH: join(dir, 'supergraph.graphql'), DEV_KEY_FILE: join(dir, 'dev-issuer-key.json'), CACHE_MODE: 'off' },
      // In development as npm start runs it, signing in with the gateway's development key.
      appEnv: { NODE_ENV: 'development', DEV_KEY_FILE: join(dir, 'dev-issuer-key.json'), STOREFRONT_STATIC_DIR: staticDir },
      output: (service, line) => {
        output.push(`${service}: ${line}`);
        const entry = parseJson(line);
        if (entry?.msg === 'listening' && typeof entry.url === 'string') listening.push({ service, url: entry.url });
      },
      onRestart: (event) => {
        restarts.push(event);
        return hold;
      },
      startTimeoutMs: 20_000,
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    running,
    restarts,
    listening,
    output,
    holdRestarts() {
      let release: () => void = () => undefined;
      hold = new Promise((resolve) => (release = resolve));
      return () => {
        release();
        hold = Promise.resolve();
      };
    },
    query: async () => (await postGraphQL(running.gatewayUrl, QUERY)).body,
    async stop() {
      await running.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** SIGKILLs a service's current process, as a crash would end it. */
function crash(running: RunningTopology, service: string): number {
  const pid = running.pid(service);
  if (pid === undefined) throw new Error(`${service} is not running`);
  process.kill(pid, 'SIGKILL');
  return pid;
}

/** Whether `promise` has settled yet, without waiting for it. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol('pending');
  return (await Promise.race([promise, Promise.resolve(pending)])) !== pending;
}

/** For waitFor: whether the gateway now answers QUERY with `expected`. */
const answers = (topology: Launched, expected: unknown) => async () => {
  try {
    return isDeepStrictEqual(await topology.query(), expected);
  } catch {
    return false; // the gateway is not listening (yet)
  }
};

describe('a subgraph with restart: unless-stopped', () => {
  let topology: Launched;
  beforeAll(async () => {
    topology = await launch({ gateway: 'unless-stopped', products: 'no', inventory: 'unless-stopped' });
  });
  afterAll(() => topology?.stop());

  it('is restarted on the same URL after it dies, while the gateway serves partial results in the meantime', async () => {
    const { running, restarts, listening } = topology;
    expect(await topology.query(), topology.output.join('\n')).toEqual(FULL);

    const release = topology.holdRestarts();
    const killed = crash(running, 'inventory');
    // The restart is reported as soon as the process has exited, and waits for the hold: inventory is down now.
    await waitFor(() => restarts.length === 1);
    expect(restarts).toEqual([{ service: 'inventory', code: 137, signal: 'SIGKILL', attempt: 1, delayMs: 500 }]);
    expect(running.pid('inventory')).toBeUndefined();
    expect(await topology.query()).toEqual(WITHOUT_INVENTORY);
    expect(running.pid('gateway')).toBeDefined();

    release();
    await waitFor(answers(topology, FULL));
    expect(running.pid('inventory')).toEqual(expect.any(Number));
    expect(running.pid('inventory')).not.toBe(killed);
    const inventoryUrls = listening.filter((entry) => entry.service === 'inventory').map((entry) => entry.url);
    expect(inventoryUrls).toEqual([running.subgraphUrls['inventory'], running.subgraphUrls['inventory']]);
    expect(restarts).toHaveLength(1);
    expect(await settled(running.exited)).toBe(false);
  });

  it('restarts the gateway too, on the same origin', async () => {
    const { running, restarts, listening } = topology;
    const gatewayUrl = running.gatewayUrl;
    crash(running, 'gateway');
    await waitFor(() => restarts.length === 2);
    expect(restarts[1]).toEqual({ service: 'gateway', code: 137, signal: 'SIGKILL', attempt: 1, delayMs: 500 });
    await waitFor(answers(topology, FULL));
    const origins = listening.filter((entry) => entry.service === 'gateway').map((entry) => new URL(entry.url).origin);
    expect(origins).toEqual([gatewayUrl, gatewayUrl]);
    expect(await settled(running.exited)).toBe(false);
  });

  it('stop() stops every process and calls off a pending restart', async () => {
    const { running, restarts } = topology;
    const release = topology.holdRestarts();
    crash(running, 'inventory');
    await waitFor(() => restarts.length === 3);
    expect(restarts[2]).toMatchObject({ service: 'inventory', attempt: 2 });
    // stop() returns only once no restart is pending: a restart that ignored it would have started a process by now.
    await running.stop();
    release();
    for (const service of ['gateway', 'products', 'inventory']) expect(running.pid(service), service).toBeUndefined();
    for (const url of [running.gatewayUrl, ...Object.values(running.subgraphUrls)]) await expect(fetch(new URL('/health', url))).rejects.toThrow();
    expect(restarts).toHaveLength(3);
    expect(await settled(running.exited)).toBe(false);
  });
});

describe('a subgraph with restart: "no"', () => {
  let topology: Launched;
  beforeAll(async () => {
    topology = await launch({ gateway: 'no', products: 'no', inventory: 'no' });
  });
  afterAll(() => topology?.stop());

  it('ends the topology when it exits: exited resolves with the service and its code, and nothing restarts', async () => {
    expect(await settled(topology.running.exited)).toBe(false);
    crash(topology.running, 'inventory');
    await expect(topology.running.exited).resolves.toEqual({ service: 'inventory', code: 137, signal: 'SIGKILL' });
    expect(topology.restarts).toEqual([]);
    expect(topology.running.pid('inventory')).toBeUndefined();
  });
});

describe('a subgraph with restart: on-failure:1', () => {
  let topology: Launched;
  beforeAll(async () => {
    topology = await launch({ gateway: 'no', products: 'no', inventory: 'on-failure:1' });
  });
  afterAll(() => topology?.stop());

  it('is restarted once, and gives up when it fails again: exited resolves then', async () => {
    const { running, restarts } = topology;
    crash(running, 'inventory');
    await waitFor(answers(topology, FULL));
    expect(restarts).toEqual([{ service: 'inventory', code: 137, signal: 'SIGKILL', attempt: 1, delayMs: 500 }]);
    expect(await settled(running.exited)).toBe(false);

    crash(running, 'inventory');
    await expect(running.exited).resolves.toEqual({ service: 'inventory', code: 137, signal: 'SIGKILL' });
    expect(restarts).toHaveLength(1);
    expect(running.pid('inventory')).toBeUndefined();
    // The rest keeps running until the caller stops it (npm start does at once).
    expect(await topology.query()).toEqual(WITHOUT_INVENTORY);
  });
});

describe('an app beside the gateway: the storefront', () => {
  let topology: Launched;
  beforeAll(async () => {
    topology = await launch({ gateway: 'no', products: 'no', inventory: 'no', storefront: 'unless-stopped' });
  });
  afterAll(() => topology?.stop());

  it('starts once the gateway listens, and is reached on localhost, where the compose file\'s URLs now lead', async () => {
    const { running, listening, output } = topology;
    const gatewayListening = output.findIndex((line) => line.startsWith('gateway: ') && line.includes('"msg":"listening"'));
    expect(gatewayListening).toBeGreaterThanOrEqual(0);
    expect(output.findIndex((line) => line.startsWith('storefront: '))).toBeGreaterThan(gatewayListening);
    const storefrontUrl = listening.find((entry) => entry.service === 'storefront')?.url ?? '';
    expect(running.appUrls).toEqual({ storefront: `http://localhost:${new URL(storefrontUrl).port}` });
    expect(running.subgraphUrls).not.toHaveProperty('storefront');

    // GATEWAY_GRAPHQL_URL http://localhost:4000/graphql names the gateway's published port: now its local one.
    const storefront = running.appUrls['storefront'] ?? '';
    const config = (await (await fetch(`${storefront}/config.json`)).json()) as StorefrontRuntimeConfig;
    expect(config.graphqlUrl).toBe(`http://localhost:${new URL(running.gatewayUrl).port}/graphql`);
    // The gateway's CORS_ORIGINS, http://localhost:4100, names the storefront's published port: now its local one.
    const preflight = await fetch(`${running.gatewayUrl}/graphql`, {
      method: 'OPTIONS',
      headers: { origin: storefront, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBe(storefront);
  });

  it('runs with appEnv on top of the compose file: in development, its sign-in signs tokens the gateway accepts', async () => {
    const storefront = topology.running.appUrls['storefront'] ?? '';
    const config = (await (await fetch(`${storefront}/config.json`)).json()) as StorefrontRuntimeConfig;
    expect(config.signIn.mode).toBe('development');
    const signIn = await fetch(`${storefront}/dev/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: '1' }) });
    expect(signIn.status).toBe(200);
    const { token } = (await signIn.json()) as { token: string };
    const authorized = await postGraphQL(topology.running.gatewayUrl, QUERY, { headers: { authorization: `Bearer ${token}` } });
    expect(authorized).toMatchObject({ status: 200, body: FULL });
    // A token the gateway does not trust is refused, not served anonymously: so the 200 above was the key's doing.
    const forged = await postGraphQL(topology.running.gatewayUrl, QUERY, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
    expect(forged.status).toBe(401);
  });

  it('is restarted under its own policy, on the same origin, while the rest keeps running', async () => {
    const { running, restarts, listening } = topology;
    const storefront = running.appUrls['storefront'] ?? '';
    crash(running, 'storefront');
    await waitFor(() => restarts.length === 1);
    expect(restarts).toEqual([{ service: 'storefront', code: 137, signal: 'SIGKILL', attempt: 1, delayMs: 500 }]);
    await waitFor(async () => (await fetch(`${storefront}/health`).catch(() => undefined))?.ok === true);
    const urls = listening.filter((entry) => entry.service === 'storefront').map((entry) => entry.url);
    expect(urls).toHaveLength(2);
    expect(new Set(urls).size).toBe(1);
    expect(await settled(running.exited)).toBe(false);
    expect(await topology.query()).toEqual(FULL);
  });

  it('is stopped with the others', async () => {
    const storefront = topology.running.appUrls['storefront'] ?? '';
    await topology.running.stop();
    expect(topology.running.pid('storefront')).toBeUndefined();
    await expect(fetch(`${storefront}/health`)).rejects.toThrow();
  });
});

describe('restart policy', () => {
  it.each<[string, boolean, RestartPolicy, number, number]>([
    ['no, after a crash', false, { mode: 'no' }, 137, 0],
    ['always, after a clean exit', true, { mode: 'always' }, 0, 0],
    ['always, however often', true, { mode: 'always' }, 1, 1_000],
    ['unless-stopped, after a crash', true, { mode: 'unless-stopped' }, 137, 5],
    ['on-failure, after a clean exit', false, { mode: 'on-failure' }, 0, 0],
    ['on-failure, however often', true, { mode: 'on-failure' }, 1, 1_000],
    ['on-failure:2, after a failure before its second restart', true, { mode: 'on-failure', maxRetries: 2 }, 1, 1],
    ['on-failure:2, after a failure once restarted twice', false, { mode: 'on-failure', maxRetries: 2 }, 1, 2],
  ])('%s: restarts is %s', (_case, expected, policy, code, restartsSoFar) => {
    expect(restartsAfter(policy, code, restartsSoFar)).toBe(expected);
  });

  it('waits 0.5 s before the first restart, doubling for each quick failure up to 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(restartDelayMs)).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });
});

describe('npm start output on a terminal', () => {
  const pretty = createPrettyOutput({ colorize: false });
  const line = (entry: Record<string, unknown>) => JSON.stringify({ time: '2024-05-06T07:08:09.010Z', pid: 42, hostname: 'box', ...entry });

  it('prints a pino line on one line, prefixed with the service, without pid, hostname or service fields', () => {
    expect(pretty('reviews', line({ level: 30, service: 'reviews', msg: 'listening', url: 'http://127.0.0.1:4004/graphql' }))).toMatch(
      /^\[reviews\] \[\d\d:\d\d:\d\d\.010\] INFO: listening \{"url":"http:\/\/127\.0\.0\.1:4004\/graphql"\}$/,
    );
  });

  it('prefixes every line of an entry that spans several (an error with its stack)', () => {
    const lines = pretty('gateway', line({ level: 50, msg: 'boom', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at here' } })).split('\n');
    expect(lines[0]).toMatch(/^\[gateway\] \[[0-9:.]+\] ERROR: boom$/);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.every((part) => part.startsWith('[gateway] '))).toBe(true);
    expect(lines).toContain('[gateway]               at here');
  });

  it('colours the level when asked to', () => {
    expect(createPrettyOutput({ colorize: true })('accounts', line({ level: 40, msg: 'careful' }))).toContain('\u001b[33mWARN\u001b[39m');
  });

  it.each([
    ['a line that is not JSON', 'Invalid configuration for subgraph reviews:'],
    ['JSON that is not a log entry', '{"hello":"world"}'],
    ['JSON that is not an object', '[1,2,3]'],
    ['a line that only starts like JSON', '{ not json'],
    ['an empty line', ''],
  ])('passes %s through unchanged', (_case, text) => {
    expect(pretty('reviews', text)).toBe(text);
  });
});

describe('ports picked for launched processes', () => {
  it('are distinct, free and below every ephemeral range, so no outgoing connection or port-0 listen takes one first', async () => {
    const ports = await freePorts(40);
    expect(new Set(ports).size).toBe(40);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(32_768);
    }
    // Each one can be bound now, as the child will.
    const servers = await Promise.all(ports.map((port) => new Promise<Server>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
    })));
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });
});
