// The Kubernetes manifests of deploy/kubernetes, checked without a cluster: against the Kubernetes API schemas
// (kubernetes-models), against the gateway's own configuration validation, and against docker-compose.yml and the
// Dockerfile, which declare the same topology, image, commands, ports and health checks.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { Namespace, type INamespace } from 'kubernetes-models/v1/Namespace';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import { Ingress, type IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { ConfigError, loadConfig, subgraphUrlVariable, type GatewayConfig } from '../src/config/index.js';
import { configSchema } from '../src/config/schema.js';
import { readTopology, type ServiceSpec } from '../src/topology/composeFile.js';
import { readTrustedDocuments } from '../src/trustedDocuments/trustedDocumentList.js';
import { loadOrGenerateSigningKey } from '../src/upstream/gatewaySigningKey.js';
import { REGENERATE_COMMAND, staleFiles, SUPERGRAPH_SOURCE, TRUSTED_DOCUMENTS_SOURCE } from '../deploy/kubernetes/configMaps.js';
import demoConfig from '../gateway.config.js';

const ROOT = new URL('..', import.meta.url).pathname;
const DEPLOY = join(ROOT, 'deploy', 'kubernetes');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const NAMESPACE = 'graphql-gateway';
const run = promisify(execFile);
const hasKubectl = (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, 'kubectl')));

// ---- the documents ----------------------------------------------------------------------------------------------

/** Every API kind the manifests may use, with its schema. A kind missing here fails the test: add it with its model. */
const MODELS: Readonly<Record<string, new (data: never) => { validate(): void }>> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
};
const KUSTOMIZATION = 'kustomize.config.k8s.io/v1beta1/Kustomization';

interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}
interface Manifest {
  /** Relative to deploy/kubernetes. */
  file: string;
  object: KubernetesObject;
}
interface Kustomization {
  resources?: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

async function yamlFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await yamlFiles(path)));
    else if (/\.ya?ml$/.test(entry.name)) files.push(path);
  }
  return files.sort();
}

/** Every document of a file, as YAML 1.2 reads it (the `yaml` package's default) and as YAML 1.1 does (kubectl's). */
function parseDocuments(text: string, source: string, version: '1.1' | '1.2'): unknown[] {
  return parseAllDocuments(text, { version })
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${source}: ${document.errors.map((error) => error.message).join('; ')}`);
      return document.toJS() as unknown;
    })
    .filter((document) => document !== null);
}

const manifests: Manifest[] = [];
/** Files that YAML 1.1 reads otherwise (`no` is false there, 0440 octal): kubectl would apply something else. */
const ambiguous: string[] = [];
let kustomization: Kustomization | undefined;
for (const path of await yamlFiles(DEPLOY)) {
  const file = relative(DEPLOY, path);
  const text = await readFile(path, 'utf8');
  const documents = parseDocuments(text, file, '1.2');
  if (JSON.stringify(parseDocuments(text, file, '1.1')) !== JSON.stringify(documents)) ambiguous.push(file);
  for (const document of documents) {
    const object = document as KubernetesObject;
    if (`${object.apiVersion}/${object.kind}` === KUSTOMIZATION) kustomization = document as Kustomization;
    else manifests.push({ file, object });
  }
}

const ofKind = <T>(kind: string): T[] => manifests.filter((manifest) => manifest.object.kind === kind).map((manifest) => manifest.object as T);
const nameOf = (object: KubernetesObject): string => object.metadata?.name ?? '';
const namespaces = ofKind<INamespace>('Namespace');
const deployments = ofKind<IDeployment>('Deployment');
const services = ofKind<IService>('Service');
const configMaps = ofKind<IConfigMap>('ConfigMap');
const policies = ofKind<INetworkPolicy>('NetworkPolicy');
const ingresses = ofKind<IIngress>('Ingress');

function one<T extends KubernetesObject>(objects: readonly T[], name: string, kind: string): T {
  const found = objects.find((object) => nameOf(object) === name);
  if (found === undefined) throw new Error(`no ${kind} named ${name} in deploy/kubernetes`);
  return found;
}
const deployment = (name: string) => one(deployments, name, 'Deployment');
const service = (name: string) => one(services, name, 'Service');
const podSpec = (name: string): IPodSpec => {
  const spec = deployment(name).spec?.template.spec;
  if (spec === undefined) throw new Error(`Deployment ${name} has no pod spec`);
  return spec;
};
const mainContainer = (name: string): IContainer => {
  const container = podSpec(name).containers.find((candidate) => candidate.name === name);
  if (container === undefined) throw new Error(`Deployment ${name} has no container named ${name}`);
  return container;
};
const literalEnv = (container: IContainer): Record<string, string> =>
  Object.fromEntries((container.env ?? []).flatMap((variable) => (variable.value === undefined ? [] : [[variable.name, variable.value]])));
/** The number a container's port (by name or number) stands for. */
function containerPort(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return container.ports?.some((entry) => entry.containerPort === port) ? port : undefined;
  return container.ports?.find((entry) => entry.name === port)?.containerPort;
}

// ---- docker-compose.yml and the Dockerfile ---------------------------------------------------------------------

const topology = await readTopology(COMPOSE_FILE);
const dockerfileText = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
interface ComposeService {
  image?: string;
  ports?: string[];
  healthcheck?: { test?: string[] };
}
const compose = parseYaml(await readFile(COMPOSE_FILE, 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const composeService = (name: string): ComposeService => {
  const found = compose.services[name];
  if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};
/** The URL a compose health check fetches, e.g. http://127.0.0.1:4000/ready. */
function healthCheckUrl(name: string): URL {
  const script = composeService(name).healthcheck?.test?.join(' ') ?? '';
  const url = /fetch\('([^']+)'\)/.exec(script)?.[1];
  if (url === undefined) throw new Error(`docker-compose.yml: the health check of ${name} fetches no URL`);
  return new URL(url);
}

/** The final stage of the Dockerfile: what the image exposes, its environment and its user. */
const dockerfile = (() => {
  const lines = dockerfileText.split('\n').map((line) => line.trim());
  const stage = lines.slice(lines.findLastIndex((line) => /^FROM\s/i.test(line)));
  const env: Record<string, string> = {};
  for (const line of stage.filter((entry) => /^ENV\s/i.test(entry))) {
    for (const pair of line.replace(/^ENV\s+/i, '').split(/\s+/)) {
      const at = pair.indexOf('=');
      if (at > 0) env[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  const exposed = stage.filter((line) => /^EXPOSE\s/i.test(line)).flatMap((line) => line.replace(/^EXPOSE\s+/i, '').split(/\s+/).map((port) => Number(port.split('/')[0])));
  const user = stage.findLast((line) => /^USER\s/i.test(line))?.replace(/^USER\s+/i, '');
  return { env, exposed, user };
})();

/** The compose services that run as Deployments: the gateway, every subgraph, every app beside them. */
const composeServices: readonly ServiceSpec[] = [topology.gateway, ...topology.subgraphs, ...topology.apps];

describe('the manifests of deploy/kubernetes', () => {
  it('are all Kubernetes API objects of known kinds, valid against their schemas', () => {
    expect(manifests.length).toBeGreaterThan(0);
    for (const { file, object } of manifests) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      expect(Model, `${file}: ${object.apiVersion} ${object.kind} is not a kind this test knows: add its kubernetes-models class to MODELS`).toBeDefined();
      expect(() => new Model!(object as never).validate(), `${file}: ${object.kind} ${nameOf(object)}`).not.toThrow();
    }
  });

  it('read the same in YAML 1.1, as kubectl reads them, as in YAML 1.2', () => {
    expect(ambiguous, 'quote the values YAML 1.1 reads as booleans or octal numbers').toEqual([]);
  });

  it('put every object in the one namespace, each name once per kind', () => {
    expect(namespaces.map(nameOf)).toEqual([NAMESPACE]);
    const seen = new Set<string>();
    for (const { file, object } of manifests) {
      if (object.kind !== 'Namespace') expect(object.metadata?.namespace, `${file}: ${object.kind} ${nameOf(object)}`).toBe(NAMESPACE);
      const key = `${object.kind}/${nameOf(object)}`;
      expect(seen.has(key), `${key} is declared twice`).toBe(false);
      seen.add(key);
    }
  });

  it('are applied the same by `kubectl apply -k deploy/kubernetes` and `kubectl apply -f deploy/kubernetes/manifests/`', async () => {
    const listed = (await readdir(join(DEPLOY, 'manifests'))).filter((file) => /\.ya?ml$/.test(file)).map((file) => `manifests/${file}`);
    expect([...(kustomization?.resources ?? [])].sort()).toEqual(listed.sort());
    expect(manifests.every(({ file }) => file.startsWith('manifests/'))).toBe(true);
    // `kubectl apply -f` a folder applies its files in name order: the namespace must come first.
    expect(listed.sort()[0]).toBe('manifests/00-namespace.yaml');
  });

  it.runIf(hasKubectl)('build with kustomize into exactly these objects', async () => {
    const { stdout } = await run('kubectl', ['kustomize', DEPLOY], { maxBuffer: 16 * 1024 * 1024 });
    const key = (object: KubernetesObject) => `${object.kind}/${nameOf(object)}`;
    const built = parseAllDocuments(stdout).map((document) => document.toJS() as KubernetesObject).sort((a, b) => key(a).localeCompare(key(b)));
    expect(built).toEqual(manifests.map(({ object }) => object).sort((a, b) => key(a).localeCompare(key(b))));
  });

  it('carry the supergraph and the trusted documents as they are committed', async () => {
    expect(await staleFiles(), `the ConfigMaps are stale: run ${REGENERATE_COMMAND}`).toEqual([]);
    expect(one(configMaps, 'gateway-supergraph', 'ConfigMap').data?.['supergraph.graphql']).toBe(await readFile(SUPERGRAPH_SOURCE, 'utf8'));
    const manifest = await readFile(TRUSTED_DOCUMENTS_SOURCE, 'utf8');
    expect(one(configMaps, 'gateway-trusted-documents', 'ConfigMap').data?.['persisted-query-manifest.json']).toBe(manifest);
  });
});

// ---- the gateway would start in production ---------------------------------------------------------------------

/** What the README tells the operator to create: the Secrets the manifests reference but never contain, with plausible values. */
const OPERATOR_SECRETS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'gateway-signing-key': { 'signing-key.pem': generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
  'redis-auth': { password: randomBytes(32).toString('hex') },
};

/**
 * A container's environment as the kubelet gives it: the image's ENV under the container's `env`, ConfigMap keys from
 * the manifests, Secret keys as the operator creates them, `$(VAR)` expanded from earlier entries. Every volume is
 * written under `root` and every path into a mount is rewritten to it, so that what the gateway reads can be read.
 */
async function kubeletEnvironment(container: IContainer, pod: IPodSpec, root: string): Promise<Record<string, string>> {
  // `$(VAR)` names a variable of the container's own list, set above it (not the image's ENV); `$$` is a `$`.
  const defined: Record<string, string> = {};
  const expand = (value: string) => value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name?: string) => (name === undefined ? '$' : (defined[name] ?? match)));
  for (const variable of container.env ?? []) {
    const configMapRef = variable.valueFrom?.configMapKeyRef;
    const secretRef = variable.valueFrom?.secretKeyRef;
    let value: string | undefined;
    if (variable.value !== undefined) value = expand(variable.value);
    else if (configMapRef !== undefined) value = one(configMaps, configMapRef.name ?? '', 'ConfigMap').data?.[configMapRef.key];
    else if (secretRef !== undefined) value = OPERATOR_SECRETS[secretRef.name ?? '']?.[secretRef.key];
    expect(value, `${variable.name}: its ConfigMap or Secret key does not exist`).toBeDefined();
    defined[variable.name] = value ?? '';
  }
  const env: Record<string, string> = { ...dockerfile.env, ...defined };
  const mounts: [string, string][] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.volumes?.find((candidate) => candidate.name === mount.name);
    const files = volume?.configMap !== undefined ? one(configMaps, volume.configMap.name ?? '', 'ConfigMap').data : volume?.secret !== undefined ? OPERATOR_SECRETS[volume.secret.secretName ?? ''] : undefined;
    expect(files, `volume ${mount.name}: a ConfigMap of the manifests or a Secret the operator creates`).toBeDefined();
    const dir = join(root, mount.mountPath);
    await mkdir(dir, { recursive: true });
    for (const [key, content] of Object.entries(files ?? {})) await writeFile(join(dir, key), content);
    mounts.push([mount.mountPath, dir]);
  }
  for (const [name, value] of Object.entries(env)) {
    if (!value.split(',').some((entry) => entry.startsWith('/'))) continue;
    env[name] = value
      .split(',')
      .map((path) => {
        if (!path.startsWith('/')) return path;
        const mount = mounts.find(([mountPath]) => path.startsWith(`${mountPath}/`));
        expect(mount, `${name}=${path} is in no volume of the container`).toBeDefined();
        const local = mount === undefined ? path : join(mount[1], path.slice(mount[0].length));
        expect(existsSync(local), `${name}=${path}: no such key in its volume`).toBe(true);
        return local;
      })
      .join(',');
  }
  return env;
}

describe('the gateway Deployment', () => {
  const gateway = mainContainer('gateway');
  let root: string | undefined;
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });
  /** The configuration the gateway would start with, loaded as src/main.ts loads it, with demoConfig as GATEWAY_CONFIG. */
  const production = async (): Promise<GatewayConfig> => {
    root ??= await mkdtemp(join(tmpdir(), 'kubernetes-gateway-'));
    const env = await kubeletEnvironment(gateway, podSpec('gateway'), root);
    try {
      return loadConfig(env, { module: demoConfig });
    } catch (error) {
      if (error instanceof ConfigError) expect(error.problems, 'the gateway would refuse to start').toEqual([]);
      throw error;
    }
  };

  it('passes the gateway\'s own configuration validation, in production, with the files it reads in place', async () => {
    const config = await production();
    expect(config.mode).toBe('production');
    expect(config.introspection).toBe(false);
    expect(config.sandbox).toBe(false);
    expect(config.auth.keySource.kind).toBe('jwks');
    expect(config.workers).toBe(1);
    // The files it reads at start: the supergraph, the trusted documents and the signing key of every replica.
    expect(await readFile(config.supergraphPath, 'utf8')).toBe(await readFile(SUPERGRAPH_SOURCE, 'utf8'));
    expect(config.trustedDocuments.mode).toBe('enforce');
    const committed = JSON.parse(await readFile(TRUSTED_DOCUMENTS_SOURCE, 'utf8')) as { operations: unknown[] };
    expect(await readTrustedDocuments(config.trustedDocuments.manifests)).toHaveLength(committed.operations.length);
    expect(config.subgraphTokens.signingKeyFile).toBeDefined();
    await expect(loadOrGenerateSigningKey(config.subgraphTokens.signingKeyFile)).resolves.toMatchObject({ publicJwk: { kty: 'EC', crv: 'P-256' } });
    expect(literalEnv(gateway)['GATEWAY_CONFIG']).toBe(dockerfile.env['GATEWAY_CONFIG']);
  });

  it('uses only Secrets that the README tells the operator to create', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const referenced = new Set(deployments.flatMap((object) => {
      const spec = podSpec(nameOf(object));
      return [
        ...spec.containers.flatMap((container) => (container.env ?? []).flatMap((variable) => variable.valueFrom?.secretKeyRef?.name ?? [])),
        ...(spec.volumes ?? []).flatMap((volume) => volume.secret?.secretName ?? []),
      ];
    }));
    expect([...referenced].sort()).toEqual(Object.keys(OPERATOR_SECRETS).sort());
    for (const name of referenced) expect(readme, `README: how to create Secret ${name}`).toContain(`create secret generic ${name}`);
  });

  it('shares one rate budget in Redis, at the Redis Service, and one signing key from a Secret mounted read-only', async () => {
    const config = await production();
    const redis = new URL(config.rateLimit.redisUrl ?? 'redis://missing');
    expect(redis.password).toBe(OPERATOR_SECRETS['redis-auth']?.['password']);
    expect(service(redis.hostname).spec?.ports?.map((port) => port.port)).toContain(Number(redis.port));
    const keyMount = gateway.volumeMounts?.find((mount) => literalEnv(gateway)['GATEWAY_SIGNING_KEY_FILE']?.startsWith(`${mount.mountPath}/`));
    expect(keyMount?.readOnly).toBe(true);
    expect(podSpec('gateway').volumes?.find((volume) => volume.name === keyMount?.name)?.secret?.secretName).toBe('gateway-signing-key');
  });

  it('is given longer to stop than the gateway drains', async () => {
    const config = await production();
    expect(literalEnv(gateway)['SHUTDOWN_TIMEOUT_MS'], 'set explicitly, not left to the default').toBeDefined();
    expect(configSchema.parse({}).shutdownTimeoutMs).toBe(10_000);
    const preStopSeconds = gateway.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(podSpec('gateway').terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + config.shutdownTimeoutMs / 1000);
  });

  it('reaches every subgraph of docker-compose.yml at its Service, by SUBGRAPH_<NAME>_URL', () => {
    const env = literalEnv(gateway);
    for (const subgraph of topology.subgraphs) {
      const url = env[subgraphUrlVariable(subgraph.name)];
      expect(url, subgraphUrlVariable(subgraph.name)).toBe(subgraph.url.href);
      const target = new URL(url ?? 'http://missing');
      const port = service(target.hostname).spec?.ports?.find((entry) => entry.port === Number(target.port));
      expect(port, `${url}: the Service ${target.hostname} has no port ${target.port}`).toBeDefined();
      expect(containerPort(mainContainer(subgraph.name), port?.targetPort)).toBe(Number(target.port));
    }
  });

  it('is scaled by an autoscaler and protected by a disruption budget that never takes every replica', () => {
    const [autoscaler] = ofKind<IHorizontalPodAutoscaler>('HorizontalPodAutoscaler');
    expect(autoscaler?.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'gateway' });
    expect(autoscaler?.spec?.minReplicas).toBeGreaterThanOrEqual(2);
    // The autoscaler owns the count: a `replicas` would be reset at every apply.
    expect(deployment('gateway').spec?.replicas).toBeUndefined();
    expect(autoscaler?.spec?.metrics?.[0]?.resource?.name).toBe('cpu');
    expect(gateway.resources?.requests?.['cpu'], 'CPU utilisation is measured against the request').toBeDefined();
    const budget = one(ofKind<IPodDisruptionBudget>('PodDisruptionBudget'), 'gateway', 'PodDisruptionBudget');
    expect(matches(budget.spec?.selector, podLabels('gateway'))).toBe(true);
    expect(budget.spec?.maxUnavailable).toBe(1);
  });
});

// ---- docker-compose.yml and the Dockerfile declare the same -------------------------------------------------------

/** Variables whose value differs from docker-compose.yml's on purpose, and why. */
const DIFFERS_FROM_COMPOSE: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  gateway: {
    SUPERGRAPH_PATH: 'the supergraph ConfigMap, mounted',
    TRUSTED_DOCUMENTS_MANIFESTS: 'the trusted documents ConfigMap, mounted',
    CORS_ORIGINS: "the storefront's public origin, not localhost",
  },
  storefront: { GATEWAY_GRAPHQL_URL: "the gateway's public URL, not localhost" },
};

describe.each(composeServices.map((spec) => [spec.name, spec] as const))('the %s Deployment and docker-compose.yml', (name, spec) => {
  const container = mainContainer(name);
  const env = literalEnv(container);

  it('runs the compose service\'s image and command', () => {
    expect(container.image).toBe(composeService(name).image);
    expect(container.command).toEqual(spec.command);
  });

  it('sets every variable the compose file sets to a value, to the same value unless the deployment differs on purpose', () => {
    for (const [variable, value] of Object.entries(spec.environment)) {
      // `${JWT_ISSUER:-}`: the compose file leaves it to whoever runs it; here it comes from a ConfigMap or a Secret.
      if (value.includes('${') || DIFFERS_FROM_COMPOSE[name]?.[variable] !== undefined) {
        expect(container.env?.some((entry) => entry.name === variable), `${variable} is set`).toBe(true);
        continue;
      }
      expect(env[variable], variable).toBe(value);
    }
  });

  it('listens on the compose service\'s port, which the Dockerfile exposes for the gateway and the storefront', () => {
    const port = Number(spec.environment['PORT']);
    expect(container.ports?.map((entry) => entry.containerPort)).toEqual([port]);
    const published = composeService(name).ports?.[0];
    if (published !== undefined) {
      expect(Number(published.split(':').at(-1))).toBe(port);
      expect(dockerfile.exposed).toContain(port);
    }
    const subgraph = topology.subgraphs.find((candidate) => candidate.name === name);
    if (subgraph !== undefined) expect(Number(subgraph.url.port)).toBe(port);
  });

  it('is probed where the compose health check looks', () => {
    const check = healthCheckUrl(name);
    const probe = (kind: string, candidate: IProbe | undefined) => {
      expect(candidate?.httpGet, `${kind} probe over HTTP`).toBeDefined();
      return { path: candidate?.httpGet?.path, port: containerPort(container, candidate?.httpGet?.port) };
    };
    expect(probe('readiness', container.readinessProbe)).toEqual({ path: check.pathname, port: Number(check.port) });
    // The gateway's /ready is 503 before a supergraph is loaded and while draining: liveness asks only whether it runs.
    expect(probe('liveness', container.livenessProbe)).toEqual({ path: name === 'gateway' ? '/health' : check.pathname, port: Number(check.port) });
  });

  it('has a Service of the compose service\'s name that reaches its port', () => {
    const { spec: serviceSpec } = service(name);
    expect(matches({ matchLabels: serviceSpec?.selector }, podLabels(name))).toBe(true);
    const port = Number(spec.environment['PORT']);
    const entry = serviceSpec?.ports?.find((candidate) => candidate.port === port);
    expect(containerPort(container, entry?.targetPort)).toBe(port);
  });
});

describe('the other manifests and docker-compose.yml', () => {
  it('deploy every service of the compose file, and nothing but them and Redis', () => {
    expect(deployments.map(nameOf).sort()).toEqual([...composeServices.map((spec) => spec.name), 'redis'].sort());
    expect(kustomization?.images?.map((image) => `${image.newName ?? image.name}:${image.newTag ?? ''}`)).toEqual([composeService('gateway').image]);
  });

  it('point each subgraph at the gateway\'s JWKS through the gateway Service', () => {
    for (const subgraph of topology.subgraphs) {
      const url = new URL(literalEnv(mainContainer(subgraph.name))['GATEWAY_JWKS_URL'] ?? 'http://missing');
      expect(url.pathname).toBe('/.well-known/jwks.json');
      expect(service(url.hostname).spec?.ports?.map((port) => port.port)).toContain(Number(url.port));
      expect(url.hostname).toBe('gateway');
    }
  });

  it('publish the API and the shop over TLS, with the gateway\'s CORS origin and the storefront\'s gateway URL on those hosts', () => {
    const [ingress] = ingresses;
    const backendOf = (host: string, path: string) =>
      ingress?.spec?.rules?.find((rule) => rule.host === host)?.http?.paths.find((candidate) => candidate.path === path)?.backend.service;
    const storefrontUrl = new URL(one(configMaps, 'storefront-settings', 'ConfigMap').data?.['GATEWAY_GRAPHQL_URL'] ?? 'http://missing');
    // The storefront refuses to start in production with a gateway URL that is not https.
    expect(storefrontUrl.protocol).toBe('https:');
    expect(backendOf(storefrontUrl.host, storefrontUrl.pathname)).toEqual({ name: 'gateway', port: { name: 'http' } });
    const origin = new URL(one(configMaps, 'gateway-settings', 'ConfigMap').data?.['CORS_ORIGINS'] ?? 'http://missing');
    expect(origin.protocol).toBe('https:');
    expect(backendOf(origin.host, '/')).toEqual({ name: 'storefront', port: { name: 'http' } });
    expect(ingress?.spec?.tls?.flatMap((tls) => tls.hosts ?? []).sort()).toEqual([origin.host, storefrontUrl.host].sort());
    for (const rule of ingress?.spec?.rules ?? []) {
      for (const path of rule.http?.paths ?? []) expect(service(path.backend.service?.name ?? '').spec?.ports?.map((port) => port.name)).toContain(path.backend.service?.port?.name);
    }
  });
});

// ---- hardening -------------------------------------------------------------------------------------------------

describe.each(deployments.map((object) => [nameOf(object)] as const))('the %s pods', (name) => {
  const spec = podSpec(name);
  const containers = [...(spec.initContainers ?? []), ...spec.containers];

  it('run as a non-root user, read-only, with no capability, no privilege escalation and the runtime\'s seccomp profile', () => {
    expect(spec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    expect(spec.hostNetwork ?? false).toBe(false);
    expect(spec.hostPID ?? false).toBe(false);
    expect(spec.hostIPC ?? false).toBe(false);
    for (const container of containers) {
      const context = container.securityContext;
      expect(context?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot, container.name).toBe(true);
      expect(context?.runAsUser ?? spec.securityContext?.runAsUser, container.name).toBeGreaterThan(0);
      expect(context?.readOnlyRootFilesystem, container.name).toBe(true);
      expect(context?.allowPrivilegeEscalation, container.name).toBe(false);
      expect(context?.privileged ?? false, container.name).toBe(false);
      expect(context?.capabilities?.drop, container.name).toEqual(['ALL']);
      expect(context?.capabilities?.add ?? [], container.name).toEqual([]);
      expect(context?.seccompProfile?.type ?? 'RuntimeDefault', container.name).toBe('RuntimeDefault');
    }
  });

  it('run the image\'s own user, uid 1000 (`USER node`), where they run the gateway\'s image', () => {
    expect(dockerfile.user).toBe('node');
    for (const container of containers.filter((candidate) => candidate.image === composeService('gateway').image)) {
      expect(container.securityContext?.runAsUser ?? spec.securityContext?.runAsUser).toBe(1000);
    }
  });

  it('mount nothing writable and nothing from the host, and get no API token or Service link variables', () => {
    for (const volume of spec.volumes ?? []) {
      expect(volume.hostPath, volume.name).toBeUndefined();
      // Nothing in production writes to disk: a writable volume would be one a process does not need.
      expect(volume.emptyDir, volume.name).toBeUndefined();
    }
    for (const container of containers) for (const mount of container.volumeMounts ?? []) expect(mount.readOnly, `${container.name} ${mount.mountPath}`).toBe(true);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.enableServiceLinks).toBe(false);
  });

  it('request and limit CPU and memory, and run a pinned image', () => {
    for (const container of containers) {
      for (const kind of ['requests', 'limits'] as const) {
        for (const resource of ['cpu', 'memory']) expect(container.resources?.[kind]?.[resource], `${container.name} ${kind}.${resource}`).toBeDefined();
      }
      expect(container.image, container.name).toMatch(/:[^:/]+$/);
      expect(container.image, container.name).not.toMatch(/:latest$/);
    }
  });
});

// ---- network policies ------------------------------------------------------------------------------------------

type LabelSelector = NonNullable<INetworkPolicyPeer['podSelector']>;

/** A pod as network policies see it: its labels, its namespace's labels, its named ports. */
interface Endpoint {
  name: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  namespaceLabels: Readonly<Record<string, string>>;
  ports: readonly { name?: string; containerPort: number; protocol?: string }[];
}

function matches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined) return false;
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const byExpression = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    switch (operator) {
      case 'In': return labels[key] !== undefined && values.includes(labels[key]);
      case 'NotIn': return labels[key] === undefined || !values.includes(labels[key]);
      case 'Exists': return labels[key] !== undefined;
      case 'DoesNotExist': return labels[key] === undefined;
      default: throw new Error(`unknown selector operator ${operator}`);
    }
  });
  return byLabel && byExpression;
}

const namespaceLabels = { ...namespaces[0]?.metadata?.labels, 'kubernetes.io/metadata.name': NAMESPACE };
const podLabels = (name: string): Record<string, string> => deployment(name).spec?.template.metadata?.labels ?? {};
const pods: readonly Endpoint[] = deployments.map((object) => ({
  name: nameOf(object),
  labels: podLabels(nameOf(object)),
  namespace: NAMESPACE,
  namespaceLabels,
  ports: podSpec(nameOf(object)).containers.flatMap((container) => container.ports ?? []),
}));
const pod = (name: string): Endpoint => {
  const found = pods.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no pod ${name}`);
  return found;
};
/** Outside the namespace: the ingress controller's pods, and the cluster DNS. */
const ingressController: Endpoint = { name: 'ingress-controller', namespace: 'ingress-nginx', labels: {}, namespaceLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' }, ports: [] };
const clusterDns: Endpoint = { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' }, ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }] };

function peerMatches(peer: INetworkPolicyPeer, endpoint: Endpoint): boolean {
  if (peer.ipBlock !== undefined) return false;
  const inNamespace = peer.namespaceSelector === undefined ? endpoint.namespace === NAMESPACE : matches(peer.namespaceSelector, endpoint.namespaceLabels);
  return inNamespace && (peer.podSelector === undefined || matches(peer.podSelector, endpoint.labels));
}
/** Whether `ports` admit `port`, a named port read on `target`, the pod that receives. */
function portAdmitted(ports: readonly INetworkPolicyPort[] | undefined, target: Endpoint, port: number, protocol: string): boolean {
  if (ports === undefined || ports.length === 0) return true;
  return ports.some((entry) => {
    if ((entry.protocol ?? 'TCP') !== protocol) return false;
    if (entry.port === undefined) return true;
    if (typeof entry.port === 'string') return target.ports.some((candidate) => candidate.name === entry.port && candidate.containerPort === port);
    return port >= entry.port && port <= (entry.endPort ?? entry.port);
  });
}
const policyTypes = (policy: INetworkPolicy) => policy.spec?.policyTypes ?? ['Ingress', ...(policy.spec?.egress !== undefined ? ['Egress'] : [])];
const selecting = (endpoint: Endpoint, type: 'Ingress' | 'Egress') =>
  endpoint.namespace === NAMESPACE ? policies.filter((policy) => policyTypes(policy).includes(type) && matches(policy.spec?.podSelector, endpoint.labels)) : [];

/** Whether `to`'s ingress policies admit a connection from `from` on `port`. */
function admits(to: Endpoint, from: Endpoint, port: number, protocol = 'TCP'): boolean {
  const selected = selecting(to, 'Ingress');
  return selected.length === 0 || selected.some((policy) => (policy.spec?.ingress ?? []).some((rule) => (rule.from === undefined || rule.from.length === 0 || rule.from.some((peer) => peerMatches(peer, from))) && portAdmitted(rule.ports, to, port, protocol)));
}
/** Whether `from`'s egress policies let it open a connection to `to` on `port`. */
function lets(from: Endpoint, to: Endpoint, port: number, protocol = 'TCP'): boolean {
  const selected = selecting(from, 'Egress');
  return selected.length === 0 || selected.some((policy) => (policy.spec?.egress ?? []).some((rule) => (rule.to === undefined || rule.to.length === 0 || rule.to.some((peer) => peerMatches(peer, to))) && portAdmitted(rule.ports, to, port, protocol)));
}
/** Whether a connection goes through: `from`'s egress and `to`'s ingress both allow it. */
const connects = (from: Endpoint, to: Endpoint, port: number, protocol = 'TCP') => lets(from, to, port, protocol) && admits(to, from, port, protocol);
/** Whether `from` may connect to an address outside the cluster. */
function reachesAddress(from: Endpoint, address: string, port: number): boolean {
  const within = (cidr: string) => {
    const [base = '', bits = '32'] = cidr.split('/');
    const toNumber = (ip: string) => ip.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
    const size = 2 ** (32 - Number(bits));
    return Math.floor(toNumber(address) / size) === Math.floor(toNumber(base) / size);
  };
  const egress = selecting(from, 'Egress');
  return egress.length === 0 || egress.some((policy) => (policy.spec?.egress ?? []).some((rule) => (rule.to ?? []).some((peer) => peer.ipBlock !== undefined && within(peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some(within)) && (rule.ports ?? []).some((entry) => entry.port === port)));
}

const subgraphNames = topology.subgraphs.map((subgraph) => subgraph.name);
const IDENTITY_PROVIDER = '203.0.113.10';

describe('the network policies', () => {
  it('select pods that exist, and name ports those pods have', () => {
    for (const policy of policies) {
      const selector = policy.spec?.podSelector;
      expect(pods.some((candidate) => matches(selector, candidate.labels)), `${nameOf(policy)} selects no pod`).toBe(true);
      const rules = [...(policy.spec?.ingress ?? []).map((rule) => ({ peers: rule.from ?? [], ports: rule.ports ?? [], receivers: pods.filter((candidate) => matches(selector, candidate.labels)) })),
        ...(policy.spec?.egress ?? []).map((rule) => ({ peers: rule.to ?? [], ports: rule.ports ?? [], receivers: undefined }))];
      for (const { peers, ports, receivers } of rules) {
        const inNamespace = peers.filter((peer) => peer.podSelector !== undefined && peer.namespaceSelector === undefined);
        for (const peer of inNamespace) expect(pods.some((candidate) => matches(peer.podSelector, candidate.labels)), `${nameOf(policy)}: a peer selects no pod`).toBe(true);
        // A named port is read on the pods that receive: the selected pods for ingress, the peers for egress.
        const targets = receivers ?? pods.filter((candidate) => inNamespace.some((peer) => matches(peer.podSelector, candidate.labels)));
        for (const entry of ports.filter((candidate) => typeof candidate.port === 'string')) {
          expect(targets.length, `${nameOf(policy)}: port ${entry.port} of no pod`).toBeGreaterThan(0);
          for (const target of targets) expect(target.ports.map((candidate) => candidate.name), `${nameOf(policy)}: ${target.name} has no port ${entry.port}`).toContain(entry.port);
        }
      }
    }
  });

  it('deny everything by default, in and out, to every pod', () => {
    for (const candidate of pods) {
      expect(selecting(candidate, 'Ingress').some((policy) => policy.spec?.ingress === undefined), `${candidate.name} ingress`).toBe(true);
      expect(selecting(candidate, 'Egress').some((policy) => policy.spec?.egress === undefined), `${candidate.name} egress`).toBe(true);
    }
  });

  it('let pods of the namespace connect only gateway -> subgraphs, gateway -> Redis and subgraphs -> gateway (its JWKS)', () => {
    const expected = new Set([...subgraphNames.map((name) => `gateway->${name}`), 'gateway->redis', ...subgraphNames.map((name) => `${name}->gateway`)]);
    for (const from of pods) {
      for (const to of pods) {
        if (from === to) continue;
        for (const { containerPort: port } of to.ports) expect(connects(from, to, port), `${from.name} -> ${to.name}:${port}`).toBe(expected.has(`${from.name}->${to.name}`));
      }
    }
  });

  it('let the subgraphs and Redis accept connections from the gateway\'s pods only, and the gateway open them to nothing else', () => {
    // A pod of another namespace that carries the gateway's labels is not the gateway.
    const impostor: Endpoint = { ...pod('gateway'), name: 'impostor', namespace: 'elsewhere', namespaceLabels: { 'kubernetes.io/metadata.name': 'elsewhere' } };
    const callers = [...pods, ingressController, impostor];
    for (const target of pods.filter((candidate) => subgraphNames.includes(candidate.name) || candidate.name === 'redis')) {
      for (const { containerPort: port } of target.ports) {
        for (const caller of callers) expect(admits(target, caller, port), `${target.name}:${port} from ${caller.name}`).toBe(caller.name === 'gateway');
      }
    }
    for (const target of [...pods, { ...pod('accounts'), name: 'elsewhere', namespace: 'elsewhere', namespaceLabels: {} }]) {
      for (const { containerPort: port } of target.ports) {
        expect(lets(pod('gateway'), target, port), `gateway -> ${target.name}:${port}`).toBe(subgraphNames.includes(target.name) || target.name === 'redis');
      }
    }
  });

  it('admit the ingress controller to the gateway and the storefront only, on the ports the Ingress names', () => {
    for (const target of pods) {
      const open = target.ports.some(({ containerPort: port }) => connects(ingressController, target, port));
      expect(open, target.name).toBe(target.name === 'gateway' || target.name === 'storefront');
    }
    expect(connects(ingressController, pod('gateway'), 4000)).toBe(true);
    expect(connects(ingressController, pod('storefront'), 4100)).toBe(true);
  });

  it('let only the gateway and the subgraphs resolve names, and only the gateway reach the identity provider (placeholder range), on 443', () => {
    for (const from of pods) {
      const resolves = from.name === 'gateway' || subgraphNames.includes(from.name);
      expect(connects(from, clusterDns, 53, 'UDP'), `${from.name} DNS`).toBe(resolves);
      expect(reachesAddress(from, IDENTITY_PROVIDER, 443), `${from.name} identity provider`).toBe(from.name === 'gateway');
      expect(reachesAddress(from, '8.8.8.8', 443), `${from.name} elsewhere`).toBe(false);
    }
    expect(reachesAddress(pod('gateway'), IDENTITY_PROVIDER, 80)).toBe(false);
  });

  it('give the gateway no egress but to subgraphs, Redis, the cluster DNS and the identity provider', () => {
    for (const policy of selecting(pod('gateway'), 'Egress')) {
      for (const rule of policy.spec?.egress ?? []) {
        expect(rule.to?.length, `${nameOf(policy)}: a rule with no peers allows everything`).toBeGreaterThan(0);
        for (const peer of rule.to ?? []) {
          const kind = peer.ipBlock !== undefined ? 'identity provider'
            : peerMatches(peer, clusterDns) ? 'dns'
              : pods.filter((candidate) => peerMatches(peer, candidate)).every((candidate) => subgraphNames.includes(candidate.name)) ? 'subgraphs'
                : pods.filter((candidate) => peerMatches(peer, candidate)).every((candidate) => candidate.name === 'redis') ? 'redis' : 'something else';
          expect(kind, `${nameOf(policy)}: ${JSON.stringify(peer)}`).not.toBe('something else');
          if (kind === 'identity provider') expect(rule.ports?.map((entry) => entry.port)).toEqual([443]);
        }
      }
    }
  });
});
