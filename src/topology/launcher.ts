import { spawn, type ChildProcess } from 'node:child_process';
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
  /** `declared`: the ports the compose file gives (npm start). `ephemeral`: port 0 everywhere (tests). */
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
 * environment, then the gateway pointed at them. Service hostnames become 127.0.0.1, since there is no compose network:
 * every process binds to loopback, and the gateway gets `SUBGRAPH_<NAME>_URL` for each subgraph.
 * If anything fails to start, everything already started is stopped before the error is thrown.
 */
export async function launchTopology(options: LaunchOptions): Promise<RunningTopology> {
  const cwd = options.cwd ?? options.topology.projectDir;
  const started: ServiceProcess[] = [];
  let stopping = false;
  let reportExit: (exit: { service: string; code: number | null }) => void = () => undefined;
  const exited = new Promise<{ service: string; code: number | null }>((resolve) => {
    reportExit = resolve;
  });

  const start = async (service: ServiceSpec, env: Environment): Promise<string> => {
    const spawned = spawnService({ service, env, cwd, output: options.output, startTimeoutMs: options.startTimeoutMs });
    started.push(spawned);
    void spawned.exited.then((code) => {
      if (!stopping) reportExit({ service: service.name, code });
    });
    return spawned.url;
  };

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

  const port = options.ports === 'ephemeral' ? { PORT: '0' } : {};
  try {
    const { subgraphs, gateway } = options.topology;
    const urls = await Promise.all(subgraphs.map((subgraph) => start(subgraph, { ...options.baseEnv, ...subgraph.environment, HOST: '127.0.0.1', ...port })));
    const subgraphUrls = Object.fromEntries(subgraphs.map((subgraph, index) => [subgraph.name, urls[index] ?? '']));
    const gatewayEnv: Record<string, string | undefined> = { ...options.baseEnv, ...gateway.environment, HOST: '127.0.0.1', ...port, ...options.gatewayEnv };
    for (const [name, url] of Object.entries(subgraphUrls)) gatewayEnv[subgraphUrlVariable(name)] = url;
    const gatewayUrl = new URL(await start(gateway, gatewayEnv)).origin;
    return { gatewayUrl, subgraphUrls, exited, stop };
  } catch (error) {
    await stop();
    throw error;
  }
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
