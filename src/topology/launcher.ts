import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { subgraphUrlVariable } from '../config.js';
import type { ServiceSpec, Topology } from './composeFile.js';

export interface LaunchOptions {
  topology: Topology;
  /** The environment every process starts from (the launcher's own, usually); the compose file's values go on top. */
  baseEnv: Readonly<Record<string, string | undefined>>;
  /** Where commands run; the compose file's folder when absent. */
  cwd?: string;
  /** `declared`: the ports the compose file gives (npm start). `ephemeral`: port 0 everywhere (tests). */
  ports: 'declared' | 'ephemeral';
  /** Overrides for the gateway's environment after the compose file's (e.g. NODE_ENV=development for local work). */
  gatewayEnv?: Readonly<Record<string, string>>;
  /** Each line a process writes, as it comes. */
  output?: (service: string, line: string, stream: 'stdout' | 'stderr') => void;
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
 * A process is up once it logs a JSON line `{"msg":"listening","url":...}`. If anything fails to start, everything
 * already started is stopped before the error is thrown.
 */
export async function launchTopology(options: LaunchOptions): Promise<RunningTopology> {
  const cwd = options.cwd ?? options.topology.projectDir;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 15_000;
  const children: { name: string; child: ChildProcess }[] = [];
  let stopping = false;
  let reportExit: (exit: { service: string; code: number | null }) => void = () => undefined;
  const exited = new Promise<{ service: string; code: number | null }>((resolve) => {
    reportExit = resolve;
  });

  const start = (service: ServiceSpec, env: Record<string, string | undefined>): Promise<string> => {
    const [command, ...args] = service.command;
    const child = spawn(command ?? '', args, { cwd, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push({ name: service.name, child });
    const recent: string[] = [];
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${service.name} did not report listening within ${startTimeoutMs} ms`)), startTimeoutMs);
      const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
        options.output?.(service.name, line, stream);
        recent.push(line);
        if (recent.length > 20) recent.shift();
        const url = stream === 'stdout' ? listeningUrl(line) : undefined;
        if (url !== undefined) {
          clearTimeout(timer);
          resolve(url);
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
        if (!stopping) reportExit({ service: service.name, code });
      });
    });
  };

  const stop = async () => {
    stopping = true;
    // The gateway first, so that it never serves while its subgraphs are going away.
    for (const { child } of [...children].reverse()) await stopChild(child, stopTimeoutMs);
  };

  const portEnv = () => (options.ports === 'ephemeral' ? { PORT: '0' } : {});
  try {
    const subgraphUrls: Record<string, string> = {};
    const started = await Promise.all(
      options.topology.subgraphs.map((subgraph) =>
        start(subgraph, { ...options.baseEnv, ...subgraph.environment, HOST: '127.0.0.1', ...portEnv() }),
      ),
    );
    options.topology.subgraphs.forEach((subgraph, index) => {
      subgraphUrls[subgraph.name] = started[index] ?? '';
    });

    const { gateway } = options.topology;
    const gatewayEnv: Record<string, string | undefined> = {
      ...options.baseEnv,
      ...gateway.environment,
      HOST: '127.0.0.1',
      ...portEnv(),
      ...options.gatewayEnv,
    };
    for (const [name, url] of Object.entries(subgraphUrls)) gatewayEnv[subgraphUrlVariable(name)] = url;
    const gatewayUrl = new URL(await start(gateway, gatewayEnv)).origin;
    return { gatewayUrl, subgraphUrls, exited, stop };
  } catch (error) {
    await stop();
    throw error;
  }
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

async function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exit;
  clearTimeout(timer);
}
