import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { subgraphUrlVariable } from '../config.js';
import type { ServiceSpec, Topology } from './composeFile.js';

type Environment = Readonly<Record<string, string | undefined>>;
export type OutputSink = (service: string, line: string, stream: 'stdout' | 'stderr') => void;

export interface LaunchOptions {
  topology: Topology;
  /** The environment every process starts from (the launcher's own, usually); the compose file's values go on top. */
  baseEnv: Environment;
  /** Where commands run; the compose file's folder when absent. */
  cwd?: string;
  /** `declared`: the ports the compose file gives (npm start). `ephemeral`: free ports picked at launch (tests). */
  ports: 'declared' | 'ephemeral';
  /** Overrides for the gateway's environment after the compose file's (e.g. NODE_ENV=development for local work). */
  gatewayEnv?: Environment;
  /** Each line a process writes, as it comes. */
  output?: OutputSink;
  /** How long a process may take to report `listening`. */
  startTimeoutMs?: number;
  /** How long a process may take to exit after SIGTERM before it is killed. */
  stopTimeoutMs?: number;
}

export interface RunningTopology {
  /** The gateway's origin, e.g. http://127.0.0.1:4000 */
  gatewayUrl: string;
  /** Where each subgraph listens, by name. */
  subgraphUrls: Readonly<Record<string, string>>;
  /** Resolves when any process exits on its own, with its name and exit code. */
  exited: Promise<{ service: string; code: number | null }>;
  /** Stops the gateway, then the subgraphs; resolves when all have exited. */
  stop(): Promise<void>;
}

/**
 * Runs the compose file's topology as local processes, without Docker: each subgraph with its command and
 * environment, then the gateway pointed at them. There is no compose network here, so every process binds to
 * 127.0.0.1 and, in every environment value, a URL naming a service at its container port (`http://gateway:4000`)
 * is rewritten to where that service listens locally. `${VAR}` and `${VAR:-default}` are filled from `baseEnv`,
 * as compose does. If anything fails to start, everything already started is stopped before the error is thrown.
 */
export async function launchTopology(options: LaunchOptions): Promise<RunningTopology> {
  const cwd = options.cwd ?? options.topology.projectDir;
  const { subgraphs, gateway } = options.topology;
  const services: ServiceSpec[] = [...subgraphs, gateway];
  const started: ServiceProcess[] = [];
  let stopping = false;
  let reportExit: (exit: { service: string; code: number | null }) => void = () => undefined;
  const exited = new Promise<{ service: string; code: number | null }>((resolve) => {
    reportExit = resolve;
  });

  // Should the launcher's own process end without stop() (a crash, a test runner tearing down a worker), its
  // children must not outlive it, holding ports: 'exit' handlers may only act synchronously, so they are killed.
  const killAll = () => started.forEach((service) => service.kill());
  process.once('exit', killAll);

  const stop = async () => {
    stopping = true;
    process.removeListener('exit', killAll);
    // The gateway first, so that it never serves while its subgraphs are going away.
    for (const service of [...started].reverse()) await service.stop(options.stopTimeoutMs);
  };

  try {
    const localPorts = options.ports === 'ephemeral' ? await freePorts(services.length) : services.map((service) => declaredPort(service));
    const local = new Map(services.map((service, index) => [service.name, { containerPort: declaredPort(service), localPort: localPorts[index] ?? 0 }]));
    const localise = (value: string): string => {
      let result = interpolate(value, options.baseEnv);
      for (const [name, { containerPort, localPort }] of local) {
        result = result.replace(new RegExp(`://${escapeRegExp(name)}:${containerPort}(?![0-9])`, 'g'), `://127.0.0.1:${localPort}`);
      }
      return result;
    };
    const environment = (service: ServiceSpec, overrides: Environment = {}): Record<string, string | undefined> => ({
      ...options.baseEnv,
      ...Object.fromEntries(Object.entries(service.environment).map(([key, value]) => [key, localise(value)])),
      HOST: '127.0.0.1',
      PORT: String(local.get(service.name)?.localPort),
      ...overrides,
    });
    const start = (service: ServiceSpec, env: Environment): Promise<string> => {
      const spawned = spawnService({ service, env, cwd, output: options.output, startTimeoutMs: options.startTimeoutMs });
      started.push(spawned);
      void spawned.exited.then((code) => {
        if (!stopping) reportExit({ service: service.name, code });
      });
      return spawned.url;
    };

    const subgraphUrls = Object.fromEntries(subgraphs.map((subgraph) => [subgraph.name, localise(subgraph.url.href)]));
    const gatewayEnv: Record<string, string | undefined> = { ...options.gatewayEnv };
    for (const [name, url] of Object.entries(subgraphUrls)) gatewayEnv[subgraphUrlVariable(name)] = url;
    // Subgraphs fetch the gateway's keys only when the first request arrives, so all may start at once.
    const urls = await Promise.all([...subgraphs.map((subgraph) => start(subgraph, environment(subgraph))), start(gateway, environment(gateway, gatewayEnv))]);
    const gatewayUrl = new URL(urls[urls.length - 1] ?? '').origin;
    return { gatewayUrl, subgraphUrls, exited, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The port a service listens on as the compose file declares it: its PORT variable, else the gateway's published port. */
function declaredPort(service: ServiceSpec): number {
  const port = Number(service.environment['PORT'] ?? ('publishedPort' in service ? service.publishedPort : Number.NaN));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${service.name}: declare the port it listens on as environment PORT`);
  return port;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compose's variable syntax: `${VAR}`, `${VAR:-default}` (also when empty), `${VAR-default}` (when unset), `$$`. */
export function interpolate(value: string, env: Environment): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (match, name: string | undefined, operator: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$';
    const current = env[name ?? ''];
    if (operator === ':-') return current === undefined || current === '' ? (fallback ?? '') : current;
    if (operator === '-') return current === undefined ? (fallback ?? '') : current;
    return current ?? '';
  });
}

/** Ports free right now, found by binding port 0; for tests, where a race with another process is harmless. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<Server>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export interface ServiceProcess {
  /** Resolves with the URL the process logged as `listening`; rejects if it exits or times out first. */
  url: Promise<string>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once it has exited. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL at once, synchronously. */
  kill(): void;
}

/**
 * Starts one service's command. A process is up once it logs a JSON line `{"msg":"listening","url":...}` on standard
 * output (the gateway and the demo subgraphs do, whatever their log level).
 */
export function spawnService(options: {
  service: ServiceSpec;
  env: Environment;
  cwd: string;
  output?: OutputSink | undefined;
  startTimeoutMs?: number | undefined;
}): ServiceProcess {
  const { service } = options;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const [command, ...args] = service.command;
  const child = spawn(command ?? '', args, { cwd: options.cwd, env: options.env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const recent: string[] = [];

  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${service.name} did not report listening within ${startTimeoutMs} ms:\n${recent.join('\n')}`)), startTimeoutMs);
    const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
      options.output?.(service.name, line, stream);
      recent.push(line);
      if (recent.length > 20) recent.shift();
      const listening = stream === 'stdout' ? listeningUrl(line) : undefined;
      if (listening !== undefined) {
        clearTimeout(timer);
        resolve(listening);
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine('stdout'));
    createInterface({ input: child.stderr! }).on('line', onLine('stderr'));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${service.name}: cannot run ${service.command.join(' ')}: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${service.name} exited (${signal ?? `code ${code}`}) before listening:\n${recent.join('\n')}`));
    });
  });
  url.catch(() => undefined); // the caller may stop before awaiting it

  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    exited,
    child,
    async stop(timeoutMs = 15_000) {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
    kill() {
      if (running()) child.kill('SIGKILL');
    },
  };
}

function listeningUrl(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return entry.msg === 'listening' && typeof entry.url === 'string' ? entry.url : undefined;
  } catch {
    return undefined;
  }
}
