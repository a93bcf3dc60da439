import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** The label that marks a compose service as a subgraph; its value is the URL the gateway calls inside the network. */
export const SUBGRAPH_URL_LABEL = 'gateway.subgraph.url';
/** The compose service that runs the gateway. */
export const GATEWAY_SERVICE = 'gateway';

/**
 * What to do when a service's process exits without being stopped: compose's `restart` values
 * (https://docs.docker.com/reference/compose-file/services/#restart). `always` and `unless-stopped` differ only in
 * what a Docker daemon does when it restarts itself, which has no counterpart for local processes.
 */
export type RestartPolicy =
  | { mode: 'no' }
  | { mode: 'always' }
  | { mode: 'unless-stopped' }
  /** Restart only after a non-zero exit; `maxRetries` restarts at most, no limit when absent. */
  | { mode: 'on-failure'; maxRetries?: number };

export interface ServiceSpec {
  /** The compose service name. */
  name: string;
  /** The process to run, in exec form: `["node", "dist/src/main.js"]`. */
  command: readonly string[];
  environment: Readonly<Record<string, string>>;
  /** Compose's `restart`; `no` when the file gives none, as in compose. */
  restart: RestartPolicy;
}

export interface SubgraphSpec extends ServiceSpec {
  /** Where the gateway reaches it inside the compose network, e.g. `http://accounts:4001/graphql`. */
  url: URL;
  /** Its SDL: `schema/<name>.graphql`. */
  schemaFile: string;
}

export interface GatewaySpec extends ServiceSpec {
  /** The port the compose file publishes, e.g. 4000 from `"4000:4000"`. */
  publishedPort: number;
}

/**
 * Any other service with a command: a client of the gateway that runs beside it, such as the storefront (a static
 * server). It is no part of the graph, so composition never reads it; the launcher starts it once the gateway listens.
 */
export interface AppSpec extends ServiceSpec {
  /** The host port the compose file publishes, when it does (4100 from `"4100:4100"`): where browsers reach it. */
  publishedPort?: number;
}

/** What a compose file declares: the gateway, its subgraphs and the apps beside it, each in file order. */
export interface Topology {
  /** The folder the compose file lives in; commands and schema files are relative to it. */
  projectDir: string;
  gateway: GatewaySpec;
  subgraphs: readonly SubgraphSpec[];
  apps: readonly AppSpec[];
}

const environment = z
  .union([z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])), z.array(z.string())])
  .optional()
  .transform((value): Record<string, string> => {
    if (value === undefined) return {};
    if (Array.isArray(value)) {
      return Object.fromEntries(value.map((entry) => {
        const at = entry.indexOf('=');
        return at === -1 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
      }));
    }
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, String(entry)]));
  });

const labels = z
  .union([z.record(z.string(), z.string()), z.array(z.string())])
  .optional()
  .transform((value): Record<string, string> => {
    if (value === undefined) return {};
    if (!Array.isArray(value)) return value;
    return Object.fromEntries(value.map((entry) => {
      const at = entry.indexOf('=');
      return at === -1 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
    }));
  });

const RESTART_VALUES = '"no", always, on-failure, on-failure:<max retries> or unless-stopped';

/**
 * Compose's `restart` value as a policy, or why it is not one. `on-failure:0` means no limit, as in Docker, whose
 * restart manager treats a maximum of 0 as none.
 */
function parseRestartPolicy(value: unknown): RestartPolicy | { error: string } {
  if (value === undefined || value === 'no') return { mode: 'no' };
  if (value === 'always' || value === 'unless-stopped' || value === 'on-failure') return { mode: value };
  if (typeof value === 'string' && value.startsWith('on-failure:')) {
    const retries = value.slice('on-failure:'.length);
    if (!/^[0-9]+$/.test(retries)) return { error: `the maximum number of retries in "${value}" must be a whole number, e.g. on-failure:3` };
    const maxRetries = Number(retries);
    return maxRetries === 0 ? { mode: 'on-failure' } : { mode: 'on-failure', maxRetries };
  }
  // `restart: false` ends here too: compose has no boolean form (an unquoted `no` is a string in YAML 1.2, as parsed here).
  return { error: `${JSON.stringify(value)} is not a restart policy: use ${RESTART_VALUES}` };
}

const restart = z.unknown().optional().transform((value, context): RestartPolicy => {
  const policy = parseRestartPolicy(value);
  if ('error' in policy) {
    context.addIssue({ code: 'custom', message: policy.error });
    return z.NEVER;
  }
  return policy;
});

const service = z.looseObject({
  command: z.array(z.string(), { error: 'command must be in exec form, e.g. ["node", "dist/subgraphs/accounts/main.js"]' }).min(1).optional(),
  environment,
  labels,
  restart,
  ports: z.array(z.union([z.string(), z.number()])).optional(),
});

const composeFile = z.looseObject({
  services: z.record(z.string(), service, { error: 'the file must have a services: map' }),
});

/** A compose file that does not describe a usable topology; the message says what to change. */
export class TopologyError extends Error {
  override name = 'TopologyError';
}

/** Reads and checks a compose file. */
export async function readTopology(composeFilePath: string): Promise<Topology> {
  const text = await readFile(composeFilePath, 'utf8');
  return parseTopology(text, dirname(resolve(composeFilePath)), composeFilePath);
}

/**
 * Parses compose YAML (merge keys included) into the gateway, its subgraphs (the services labelled
 * `gateway.subgraph.url`) and apps (every other service with a command). A service without a command (an image run
 * as it is) is Docker's alone: there is nothing to run locally, so it is left out.
 */
export function parseTopology(yamlText: string, projectDir: string, source = 'docker-compose.yml'): Topology {
  const parsed = composeFile.safeParse(parseYaml(yamlText, { merge: true }));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new TopologyError(`${source} is not a usable compose file:\n  - ${problems.join('\n  - ')}`);
  }

  let gateway: GatewaySpec | undefined;
  const subgraphs: SubgraphSpec[] = [];
  const apps: AppSpec[] = [];
  for (const [name, spec] of Object.entries(parsed.data.services)) {
    const subgraphUrl = spec.labels[SUBGRAPH_URL_LABEL];
    if (spec.command === undefined) {
      if (name !== GATEWAY_SERVICE && subgraphUrl === undefined) continue;
      throw new TopologyError(`${source}: service "${name}" needs a command in exec form, e.g. ["node", "dist/subgraphs/${name}/main.js"]`);
    }
    const base = { name, command: spec.command, environment: spec.environment, restart: spec.restart };
    if (name === GATEWAY_SERVICE) {
      const port = publishedPort(spec.ports, `${source}: service "${name}"`);
      if (port === undefined) throw new TopologyError(`${source}: the gateway service must publish its port, e.g. ports: ["4000:4000"]`);
      gateway = { ...base, publishedPort: port };
      continue;
    }
    if (subgraphUrl === undefined) {
      const port = publishedPort(spec.ports, `${source}: service "${name}"`);
      apps.push(port === undefined ? base : { ...base, publishedPort: port });
      continue;
    }
    // A subgraph's ports are left to Docker: the gateway reaches it at its label's URL, never through the host.
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) {
      throw new TopologyError(`${source}: subgraph service "${name}" must be named in lower case (letters, digits, - and _)`);
    }
    if (!URL.canParse(subgraphUrl)) {
      throw new TopologyError(`${source}: service "${name}" has ${SUBGRAPH_URL_LABEL} "${subgraphUrl}", which is not a URL (e.g. http://${name}:4005/graphql)`);
    }
    subgraphs.push({ ...base, url: new URL(subgraphUrl), schemaFile: join(projectDir, 'schema', `${name}.graphql`) });
  }

  if (gateway === undefined) throw new TopologyError(`${source}: there is no "${GATEWAY_SERVICE}" service`);
  if (subgraphs.length === 0) throw new TopologyError(`${source}: no service has the label ${SUBGRAPH_URL_LABEL}, so there is no subgraph`);
  return { projectDir, gateway, subgraphs, apps };
}

/** The host port of a service's first `ports:` entry, or undefined when it publishes none. */
function publishedPort(ports: readonly (string | number)[] | undefined, service: string): number | undefined {
  const first = ports?.[0];
  if (first === undefined) return undefined;
  // "4000:4000", "127.0.0.1:4000:4000" or "4000": the published (host) port comes before the container port.
  const parts = String(first).split(':');
  const port = Number(parts.length >= 2 ? parts[parts.length - 2] : parts[0]);
  if (!Number.isInteger(port) || port <= 0) throw new TopologyError(`${service} publishes ${JSON.stringify(first)}, which names no host port: use e.g. ports: ["4100:4100"]`);
  return port;
}
