import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { describeNeeding } from './machineTools.js';
import { gateway } from './cli.js';
import { parseTopology, readTopology, SUBGRAPH_URL_LABEL, TopologyError, type RestartPolicy } from '../src/topology/composeFile.js';
import { composeSupergraph } from '../src/topology/composeSupergraph.js';
import { interpolate } from '../src/topology/launcher.js';
import { COMMITTED_SUPERGRAPH } from './harness.js';
import demoConfig from '../gateway.config.js';

const ROOT = new URL('..', import.meta.url).pathname;
const hasDockerCompose = () => (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, 'docker-compose')));
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const run = promisify(execFile);

interface ComposeService {
  command?: string[];
  ports?: string[];
  expose?: string[];
  networks?: string[];
  healthcheck?: { test?: string[] };
  restart?: string;
  environment?: Record<string, string>;
  labels?: Record<string, string>;
}

describe('docker-compose.yml, the one declaration of the topology', () => {
  it('declares the gateway and the four demo subgraphs, with their URLs', async () => {
    const topology = await readTopology(COMPOSE_FILE);
    expect(topology.gateway.name).toBe('gateway');
    expect(topology.gateway.publishedPort).toBe(4000);
    expect(topology.subgraphs.map((subgraph) => [subgraph.name, subgraph.url.href])).toEqual([
      ['accounts', 'http://accounts:4001/graphql'],
      ['products', 'http://products:4002/graphql'],
      ['inventory', 'http://inventory:4003/graphql'],
      ['reviews', 'http://reviews:4004/graphql'],
    ]);
    // Not a subgraph: an app beside the gateway, which npm start runs after it.
    expect(topology.apps.map((app) => [app.name, app.command, app.publishedPort])).toEqual([['storefront', ['node', 'dist/frontend/server/main.js'], 4100]]);
    // What npm start honours: each process that dies is started again, as Docker would.
    for (const service of [topology.gateway, ...topology.subgraphs, ...topology.apps]) expect(service.restart, service.name).toEqual({ mode: 'unless-stopped' });
  });

  it('publishes only the gateway and the storefront, keeps subgraphs on an internal network, and gives every service a health check and restart policy', async () => {
    const file = parseYaml(await readFile(COMPOSE_FILE, 'utf8'), { merge: true }) as {
      services: Record<string, ComposeService>;
      networks: Record<string, { internal?: boolean } | null>;
    };
    expect(file.networks['subgraphs']?.internal).toBe(true);
    for (const [name, service] of Object.entries(file.services)) {
      expect(service.healthcheck?.test?.length, `${name} health check`).toBeGreaterThan(0);
      expect(service.restart, `${name} restart`).toBe('unless-stopped');
      if (name === 'gateway') {
        expect(service.ports).toEqual(['4000:4000']);
        expect(service.networks).toEqual(expect.arrayContaining(['subgraphs']));
        expect(service.environment?.['NODE_ENV']).toBe('production');
      } else if (name === 'storefront') {
        // A static server for browsers: published, and out of the subgraphs' reach (and they out of its).
        expect(service.ports).toEqual(['4100:4100']);
        expect(service.networks).toEqual(['edge']);
        expect(service.labels?.[SUBGRAPH_URL_LABEL]).toBeUndefined();
        expect(service.environment).toEqual({ NODE_ENV: 'production', HOST: '0.0.0.0', PORT: '4100', GATEWAY_GRAPHQL_URL: 'http://localhost:4000/graphql' });
        expect(service.healthcheck?.test?.join(' ')).toContain('http://127.0.0.1:4100/health');
      } else {
        expect(service.ports, `${name} must not publish a port`).toBeUndefined();
        expect(service.networks, name).toEqual(['subgraphs']);
      }
    }
  });

  it('lets browsers on the storefront\'s origin call the gateway, at the ports both publish', async () => {
    const { gateway, apps } = await readTopology(COMPOSE_FILE);
    const storefront = apps.find((app) => app.name === 'storefront');
    expect(new URL(storefront?.environment['GATEWAY_GRAPHQL_URL'] ?? '').origin).toBe(`http://localhost:${gateway.publishedPort}`);
    expect(gateway.environment['CORS_ORIGINS']?.split(',')).toEqual([`http://localhost:${storefront?.publishedPort}`]);
  });

  it('serves the storefront\'s operations as the trusted list, in the mode TRUSTED_DOCUMENTS gives (off unless set)', async () => {
    const { gateway } = await readTopology(COMPOSE_FILE);
    const mode = gateway.environment['TRUSTED_DOCUMENTS'] ?? '';
    expect([interpolate(mode, {}), interpolate(mode, { TRUSTED_DOCUMENTS: '' }), interpolate(mode, { TRUSTED_DOCUMENTS: 'enforce' })]).toEqual(['off', 'off', 'enforce']);
    const manifests = gateway.environment['TRUSTED_DOCUMENTS_MANIFESTS']?.split(',') ?? [];
    expect(manifests).toEqual(['frontend/persisted-query-manifest.json']);
    // The same list as the config module's: the environment wins over the module, and must not drop an app's manifest.
    expect(manifests).toEqual(demoConfig.trustedDocuments?.manifests);
    for (const manifest of manifests) expect(existsSync(join(ROOT, manifest)), manifest).toBe(true);
  });

  it('runs, for every service, a compiled entry point that exists (what npm start and the image run)', async () => {
    const topology = await readTopology(COMPOSE_FILE);
    for (const service of [topology.gateway, ...topology.subgraphs, ...topology.apps]) {
      expect(service.command[0]).toBe('node');
      const entry = service.command[1] ?? '';
      expect(existsSync(join(ROOT, entry)), entry).toBe(true);
      expect(existsSync(join(ROOT, entry.replace(/^dist\//, '').replace(/\.js$/, '.ts'))), `${entry} from source`).toBe(true);
    }
    for (const subgraph of topology.subgraphs) expect(existsSync(subgraph.schemaFile), subgraph.schemaFile).toBe(true);
  });

  // Debian's docker-compose validates the file against the compose schema offline.
  describeNeeding(hasDockerCompose() ? undefined : 'docker-compose is missing: apt-get install docker-compose (.ci/run does)', 'by the compose schema', () => {
    it('is valid (docker-compose config -q)', async () => {
      await expect(run('docker-compose', ['config', '-q'], { cwd: ROOT })).resolves.toMatchObject({ stderr: '' });
      const broken = await mkdtemp(join(tmpdir(), 'compose-invalid-'));
      try {
        await writeFile(join(broken, 'docker-compose.yml'), (await readFile(join(ROOT, 'docker-compose.yml'), 'utf8')).replace('restart: unless-stopped', 'restart: [sometimes]'));
        await expect(run('docker-compose', ['config', '-q'], { cwd: broken })).rejects.toMatchObject({ code: 1 });
      } finally {
        await rm(broken, { recursive: true, force: true });
      }
    });
  });

  it('composes to exactly the committed supergraph', async () => {
    const topology = await readTopology(COMPOSE_FILE);
    const result = await composeSupergraph(topology.subgraphs);
    expect(result).toEqual({ ok: true, supergraphSdl: await readFile(COMMITTED_SUPERGRAPH, 'utf8') });
  });

  it.each([
    ['no gateway service', 'services:\n  a:\n    command: ["node", "a.js"]\n    labels: { gateway.subgraph.url: "http://a:1/graphql" }\n', 'there is no "gateway" service'],
    ['no subgraph', 'services:\n  gateway:\n    command: ["node", "g.js"]\n    ports: ["4000:4000"]\n', 'no service has the label gateway.subgraph.url'],
    ['a command in shell form', 'services:\n  gateway:\n    command: node g.js\n    ports: ["4000:4000"]\n', 'command must be in exec form'],
    ['a subgraph URL that is not a URL', 'services:\n  gateway:\n    command: ["node", "g.js"]\n    ports: ["4000:4000"]\n  a:\n    command: ["node", "a.js"]\n    labels: { gateway.subgraph.url: "nowhere" }\n', 'which is not a URL'],
    ['an unpublished gateway', 'services:\n  gateway:\n    command: ["node", "g.js"]\n  a:\n    command: ["node", "a.js"]\n    labels: { gateway.subgraph.url: "http://a:1/graphql" }\n', 'must publish its port'],
  ])('explains a compose file with %s', (_case, yaml, message) => {
    expect(() => parseTopology(yaml, ROOT)).toThrow(TopologyError);
    expect(() => parseTopology(yaml, ROOT)).toThrow(message);
  });

  const GATEWAY_AND_SUBGRAPH = 'services:\n  gateway:\n    command: ["node", "g.js"]\n    ports: ["4000:4000"]\n  a:\n    command: ["node", "a.js"]\n    labels: { gateway.subgraph.url: "http://a:1/graphql" }\n';

  it('reads any other service with a command as an app, in file order, and leaves out one without a command (Docker\'s alone)', () => {
    const yaml = `${GATEWAY_AND_SUBGRAPH}  web:\n    command: ["node", "web.js"]\n    restart: on-failure:2\n    environment: { PORT: "4100" }\n    ports: ["127.0.0.1:8080:4100"]\n` +
      '  cache:\n    image: redis:7\n  worker:\n    command: ["node", "worker.js"]\n';
    const topology = parseTopology(yaml, ROOT);
    expect(topology.subgraphs.map((subgraph) => subgraph.name)).toEqual(['a']);
    expect(topology.apps).toEqual([
      { name: 'web', command: ['node', 'web.js'], environment: { PORT: '4100' }, restart: { mode: 'on-failure', maxRetries: 2 }, publishedPort: 8080 },
      { name: 'worker', command: ['node', 'worker.js'], environment: {}, restart: { mode: 'no' } },
    ]);
  });

  it('explains an app whose published port is not one, naming the service', () => {
    const yaml = `${GATEWAY_AND_SUBGRAPH}  web:\n    command: ["node", "web.js"]\n    ports: ["web:4100"]\n`;
    expect(() => parseTopology(yaml, ROOT)).toThrow(TopologyError);
    expect(() => parseTopology(yaml, ROOT)).toThrow('docker-compose.yml: service "web" publishes "web:4100", which names no host port');
  });

  /** A topology whose one subgraph has this `restart:` line (none when undefined). */
  const withRestart = (value: string | undefined) =>
    'services:\n  gateway:\n    command: ["node", "g.js"]\n    ports: ["4000:4000"]\n  a:\n    command: ["node", "a.js"]\n' +
    `${value === undefined ? '' : `    restart: ${value}\n`}    labels: { gateway.subgraph.url: "http://a:1/graphql" }\n`;

  it.each<[string | undefined, RestartPolicy]>([
    [undefined, { mode: 'no' }],
    ['no', { mode: 'no' }],
    ['"no"', { mode: 'no' }],
    ['always', { mode: 'always' }],
    ['unless-stopped', { mode: 'unless-stopped' }],
    ['on-failure', { mode: 'on-failure' }],
    ['on-failure:3', { mode: 'on-failure', maxRetries: 3 }],
    // Docker's restart manager reads a maximum of 0 as no maximum.
    ['on-failure:0', { mode: 'on-failure' }],
  ])('reads restart: %s as the policy %o', (value, policy) => {
    expect(parseTopology(withRestart(value), ROOT).subgraphs[0]?.restart).toEqual(policy);
  });

  it.each([
    ['sometimes', '"sometimes" is not a restart policy: use "no", always, on-failure, on-failure:<max retries> or unless-stopped'],
    ['false', 'false is not a restart policy: use "no", always'],
    ['Always', '"Always" is not a restart policy'],
    ['on-failure:three', 'the maximum number of retries in "on-failure:three" must be a whole number, e.g. on-failure:3'],
    ['on-failure:-1', 'the maximum number of retries in "on-failure:-1" must be a whole number'],
    ['"on-failure:"', 'the maximum number of retries in "on-failure:" must be a whole number'],
  ])('explains restart: %s, naming the service', (value, message) => {
    expect(() => parseTopology(withRestart(value), ROOT)).toThrow(TopologyError);
    expect(() => parseTopology(withRestart(value), ROOT)).toThrow(`services.a.restart: ${message}`);
  });
});

describe('composition', () => {
  it('reports every composition error, naming the subgraph', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compose-'));
    try {
      await writeFile(join(dir, 'a.graphql'), 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])\ntype Query { thing: Thing }\ntype Thing @key(fields: "id") { id: ID! size: Int }');
      await writeFile(join(dir, 'b.graphql'), 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])\ntype Query { other: Thing }\ntype Thing @key(fields: "id") { id: ID! size: String }');
      await writeFile(join(dir, 'c.graphql'), 'type Query { broken: ');
      const url = new URL('http://x/graphql');
      const broken = await composeSupergraph([{ name: 'c', url, schemaFile: join(dir, 'c.graphql') }, { name: 'd', url, schemaFile: join(dir, 'missing.graphql') }]);
      expect(broken.ok).toBe(false);
      expect(!broken.ok && broken.errors).toEqual([expect.stringContaining('[c]'), expect.stringContaining('[d] cannot read')]);
      const conflicting = await composeSupergraph([{ name: 'a', url, schemaFile: join(dir, 'a.graphql') }, { name: 'b', url, schemaFile: join(dir, 'b.graphql') }]);
      expect(conflicting.ok).toBe(false);
      expect(!conflicting.ok && conflicting.errors.join('\n')).toMatch(/Thing\.size/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('npm run check:supergraph passes on the committed file and fails on a stale one with the command that fixes it', async () => {
    const fresh = await gateway(['compose', '--check']);
    expect(fresh).toMatchObject({ code: 0, stdout: expect.stringContaining('is up to date') });
    const dir = await mkdtemp(join(tmpdir(), 'stale-'));
    try {
      const stale = join(dir, 'supergraph.graphql');
      await writeFile(stale, (await readFile(COMMITTED_SUPERGRAPH, 'utf8')).replace('costPrice: Int', ''));
      expect(await gateway(['compose', '--check', '--out', stale])).toMatchObject({ code: 1, stderr: expect.stringContaining('Run `npm run compose`') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  it('copies everything its build compiles: the build succeeds on exactly the files it copies', async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const buildStage = dockerfile.split(/^FROM /m)[1] ?? '';
    const copied = [...buildStage.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)].flatMap((match) => (match[1] ?? '').split(' '));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'subgraphs', 'scripts', 'frontend']));
    const context = await mkdtemp(join(tmpdir(), 'docker-context-'));
    try {
      for (const path of copied) await cp(join(ROOT, path), join(context, path), { recursive: true });
      await symlink(join(ROOT, 'node_modules'), join(context, 'node_modules'));
      await run('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', join(context, 'out'), '--tsBuildInfoFile', join(context, 'out', '.tsbuildinfo')], { cwd: context });
      expect(existsSync(join(context, 'out', 'src', 'main.js'))).toBe(true);
      expect(existsSync(join(context, 'out', 'subgraphs', 'accounts', 'main.js'))).toBe(true);
      expect(existsSync(join(context, 'out', 'frontend', 'server', 'main.js'))).toBe(true);
    } finally {
      await rm(context, { recursive: true, force: true });
    }
  }, 60_000);

  it('puts into the image what every service reads at run time: entry points, the storefront\'s page, the supergraph, the trusted manifests', async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const [, buildStage = '', runtimeStage = ''] = dockerfile.split(/^FROM /m);
    // Where each COPY of the runtime stage puts things, relative to WORKDIR /app; a context source must exist.
    const copies = [...runtimeStage.matchAll(/^COPY (--from=\S+ )?(.+) (\S+)$/gm)].flatMap(([, from, sources = '', destination = '']) =>
      sources.split(' ').map((source) => {
        if (from === undefined) expect(existsSync(join(ROOT, source)), `${source} in the build context`).toBe(true);
        return destination.endsWith('/') ? posix.join(destination, posix.basename(source)) : posix.normalize(destination);
      }));
    const holds = (path: string) => copies.some((copied) => path === copied || path.startsWith(`${copied}/`));

    const { gateway, subgraphs, apps } = await readTopology(COMPOSE_FILE);
    const needed = [
      ...[gateway, ...subgraphs, ...apps].map((service) => service.command[1] ?? ''),
      gateway.environment['GATEWAY_CONFIG'] ?? '',
      gateway.environment['SUPERGRAPH_PATH'] ?? '',
      ...(gateway.environment['TRUSTED_DOCUMENTS_MANIFESTS']?.split(',') ?? []),
      ...(demoConfig.trustedDocuments?.manifests ?? []),
      // The storefront's built page (its STOREFRONT_STATIC_DIR default), which the build stage's `npm run build` writes.
      'dist/frontend/public/index.html',
      'dist/frontend/public/app.js',
    ];
    for (const path of needed) expect(holds(path), `${path} in the runtime stage`).toBe(true);
    expect(buildStage).toMatch(/^RUN npm run build\b/m);
    const { scripts } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(scripts['build']).toContain('npm run build:storefront');
  });

  it('builds the image every compose service runs: the gateway command by default, with the schema folder', async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const topology = await readTopology(COMPOSE_FILE);
    const cmd = /^CMD (.+)$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(cmd ?? 'null')).toEqual(topology.gateway.command);
    expect(dockerfile).toMatch(/^COPY schema schema$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^FROM node:20/m);
  });
});

describe('the launcher', () => {
  it.each([
    ['${A}', 'x'],
    ['${UNSET}', ''],
    ['${UNSET:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'],
    ['${EMPTY-fallback}', ''],
    ['${UNSET-fallback}', 'fallback'],
    ['$${A}', '${A}'],
    ['http://${A}:1/${A:-y}', 'http://x:1/x'],
  ])('interpolates %s as compose does', (value, expected) => {
    expect(interpolate(value, { A: 'x', EMPTY: '' })).toBe(expected);
  });
});
