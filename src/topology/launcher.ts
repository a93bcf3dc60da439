import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { subgraphUrlVariable } from '../config/index.js';
import type { AppSpec, RestartPolicy, ServiceSpec, Topology } from './composeFile.js';
import { freePorts } from './freePorts.js';

type Environment = Readonly<Record<string, string | undefined>>;
export type OutputSink = (service: string, line: string, stream: 'stdout' | 'stderr') => void;

/** How a process ended. `code` is the shell's and Docker's number: a process killed by a signal counts as 128 + its number. */
export interface ServiceExit {
  service: string;
  code: number;
  /** The signal that killed it, e.g. `SIGKILL` (code 137), or null when it exited by itself. */
  signal: NodeJS.Signals | null;
}

/** A process that exited and will be started again under its restart policy. */
export interface ServiceRestart extends ServiceExit {
  /** How many times this service has been restarted, this one included: 1 for the first. */
  attempt: number;
  /** How long the launcher waits before starting it again. */
  delayMs: number;
}

/**
 * The wait before a restart, like Docker's restart manager (which starts at 100 ms and caps at a minute): a process
 * that fails again at once waits twice as long each time, so a crash loop neither spins nor floods the terminal,
 * and one that had served a while is back quickly.
 */
export const RESTART_BACKOFF = {
  /** The wait before the first restart. */
  initialMs: 500,
  /** The longest wait, reached after seven quick failures in a row. */
  maxMs: 30_000,
  /** A process that had been listening this long before it exited starts again from `initialMs`. */
  resetAfterMs: 10_000,
} as const;

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
  /** Overrides for every app's environment after the compose file's, as `gatewayEnv` is for the gateway. */
  appEnv?: Environment;
  /** Each line a process writes, as it comes. */
  output?: OutputSink;
  /**
   * Called once for each restart, as soon as the process has exited. The restart (and its backoff) waits for a
   * returned promise, which lets a test look at the topology while the service is down; stop() does not wait for it.
   */
  onRestart?: (restart: ServiceRestart) => void | Promise<void>;
  /** How long a process may take to report `listening`. */
  startTimeoutMs?: number;
  /** How long a process may take to exit after SIGTERM before it is killed. */
  stopTimeoutMs?: number;
}

export interface RunningTopology {
  /** The gateway's origin, e.g. http://127.0.0.1:4000 */
  gatewayUrl: string;
  /** Where each subgraph listens, by name; a restarted subgraph listens there again. */
  subgraphUrls: Readonly<Record<string, string>>;
  /**
   * Each app's origin by name, as a browser on this machine opens it: `http://localhost:<port>`, the host name by
   * which browsers reach a container's published port, and so the origin the compose file names (CORS_ORIGINS).
   */
  appUrls: Readonly<Record<string, string>>;
  /**
   * Resolves when a process exits for good, without stop(): its policy is `no`, it exited 0 under `on-failure`, or
   * `on-failure:N` had restarted it N times already. The others go on running until stop().
   */
  exited: Promise<ServiceExit>;
  /** The process id of a service's current process, or undefined while it is not running (e.g. awaiting a restart). */
  pid(service: string): number | undefined;
  /** Stops the apps, then the gateway, then the subgraphs, and cancels pending restarts; resolves when all have exited. */
  stop(): Promise<void>;
}

/**
 * Runs the compose file's topology as local processes, without Docker: each subgraph with its command and
 * environment, then the gateway pointed at them, then, once the gateway listens, the apps (its clients, such as the
 * storefront). There is no compose network here, so every process binds to 127.0.0.1 and, in every environment
 * value, a URL naming a service at its container port (`http://gateway:4000`) is rewritten to where that service
 * listens locally, and so is one naming a published port on the host (`http://localhost:4100`, which browsers use),
 * keeping its host name: origins stay the ones the file declares. `${VAR}` and `${VAR:-default}` are filled from
 * `baseEnv`, as compose does. If anything fails to start, everything already started is stopped before the error is
 * thrown.
 *
 * Once up, a process that exits is started again as its `restart` policy says, after a backoff (RESTART_BACKOFF),
 * with the same environment and so on the same port; meanwhile the others keep running, and the gateway answers
 * for that subgraph's fields with SERVICE_UNAVAILABLE. A process that cannot start at launch fails the launch
 * instead: that is a configuration error which restarting would only repeat, and its output says what is wrong.
 */
export async function launchTopology(options: LaunchOptions): Promise<RunningTopology> {
  const cwd = options.cwd ?? options.topology.projectDir;
  const { subgraphs, gateway, apps } = options.topology;
  const services: ServiceSpec[] = [...subgraphs, gateway, ...apps];
  // Each service's current process, in start order (a restart replaces the entry and keeps its place).
  const current = new Map<string, ServiceProcess>();
  const stopped = new AbortController();
  let reportExit: (exit: ServiceExit) => void = () => undefined;
  const exited = new Promise<ServiceExit>((resolve) => {
    reportExit = resolve;
  });

  // Should the launcher's own process end without stop() (a crash, a test runner tearing down a worker), its
  // children must not outlive it, holding ports: 'exit' handlers may only act synchronously, so they are killed.
  const killAll = () => current.forEach((service) => service.kill());
  process.once('exit', killAll);

  // One per process: settles once it has exited and the restart that follows has started or been called off, so
  // that stop() returns only when no restart is left pending.
  const supervisions = new Set<Promise<void>>();

  const stop = async () => {
    // Aborting first means no restart starts a process from here on: every one checks the signal before it spawns.
    stopped.abort();
    process.removeListener('exit', killAll);
    // In reverse start order: the apps, then the gateway, so that it never serves while its subgraphs are going away.
    for (const service of [...current.values()].reverse()) await service.stop(options.stopTimeoutMs);
    await Promise.all(supervisions);
  };

  /** Runs a service and keeps it running under its policy; resolves with the URL its first process reports. */
  const supervise = (service: ServiceSpec, env: Environment): Promise<string> => {
    let restarts = 0;
    let quickFailures = 0;
    const run = (): ServiceProcess => {
      const spawned = spawnService({ service, env, cwd, output: options.output, startTimeoutMs: options.startTimeoutMs });
      current.set(service.name, spawned);
      let listeningSince: number | undefined;
      // A restarted process that never reports listening is killed, and its exit handled like any other.
      spawned.url.then(() => (listeningSince = Date.now()), () => spawned.kill());
      const supervision = spawned.exited.then(async () => {
        if (stopped.signal.aborted) return;
        // The first process of a service that exits before listening fails the launch, which reports it.
        if (restarts === 0 && listeningSince === undefined) return;
        const exit = exitOf(service.name, spawned.child);
        if (!restartsAfter(service.restart, exit.code, restarts)) {
          reportExit(exit);
          return;
        }
        const servedLong = listeningSince !== undefined && Date.now() - listeningSince >= RESTART_BACKOFF.resetAfterMs;
        quickFailures = servedLong ? 1 : quickFailures + 1;
        restarts += 1;
        const restart: ServiceRestart = { ...exit, attempt: restarts, delayMs: restartDelayMs(quickFailures) };
        // The hook is told of the restart, it does not decide it: one that throws or rejects does not keep the service down.
        await untilSettledOrAborted(Promise.resolve().then(() => options.onRestart?.(restart)), stopped.signal);
        await delay(restart.delayMs, undefined, { signal: stopped.signal }).catch(() => undefined);
        if (!stopped.signal.aborted) run();
      });
      supervisions.add(supervision);
      void supervision.finally(() => supervisions.delete(supervision));
      return spawned;
    };
    return run().url;
  };

  try {
    const localPorts = options.ports === 'ephemeral' ? await freePorts(services.length) : services.map((service) => declaredPort(service));
    const local = new Map(services.map((service, index) => [service.name, { containerPort: declaredPort(service), localPort: localPorts[index] ?? 0 }]));
    // Where a URL's host and port lead here: a service by name at its container port (inside the compose network), or
    // the host (localhost, 127.0.0.1) at a service's published port.
    const rewrites = new Map<string, string>();
    for (const service of services) {
      const localPort = local.get(service.name)?.localPort ?? 0;
      rewrites.set(`${service.name}:${declaredPort(service)}`, `127.0.0.1:${localPort}`);
      const published = publishedPortOf(service);
      if (published !== undefined) for (const host of ['localhost', '127.0.0.1']) rewrites.set(`${host}:${published}`, `${host}:${localPort}`);
    }
    // One pass over each value, so that a rewritten URL is never rewritten again.
    const localise = (value: string): string =>
      interpolate(value, options.baseEnv).replace(/:\/\/([A-Za-z0-9._-]+:[0-9]+)(?![0-9])/g, (match, hostPort: string) => {
        const target = rewrites.get(hostPort);
        return target === undefined ? match : `://${target}`;
      });
    // Computed once per service: a restarted process gets the same environment, so the same port and URLs.
    const environment = (service: ServiceSpec, overrides: Environment = {}): Record<string, string | undefined> => ({
      ...options.baseEnv,
      ...Object.fromEntries(Object.entries(service.environment).map(([key, value]) => [key, localise(value)])),
      HOST: '127.0.0.1',
      PORT: String(local.get(service.name)?.localPort),
      ...overrides,
    });

    const subgraphUrls = Object.fromEntries(subgraphs.map((subgraph) => [subgraph.name, localise(subgraph.url.href)]));
    const gatewayEnv: Record<string, string | undefined> = { ...options.gatewayEnv };
    for (const [name, url] of Object.entries(subgraphUrls)) gatewayEnv[subgraphUrlVariable(name)] = url;
    // Subgraphs fetch the gateway's keys only when the first request arrives, so all may start at once.
    const urls = await Promise.all([...subgraphs.map((subgraph) => supervise(subgraph, environment(subgraph))), supervise(gateway, environment(gateway, gatewayEnv))]);
    const gatewayUrl = new URL(urls[urls.length - 1] ?? '').origin;
    // The apps are the gateway's clients: started once it listens, so that their first request finds it.
    const appListening = await Promise.all(apps.map((app) => supervise(app, environment(app, options.appEnv))));
    const appUrls = Object.fromEntries(apps.map((app, index) => [app.name, browserOrigin(appListening[index] ?? '')]));
    const pid = (service: string) => {
      const child = current.get(service)?.child;
      return child !== undefined && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    };
    return { gatewayUrl, subgraphUrls, appUrls, exited, pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Whether a process that exited with `code` is started again, given how many restarts it has had: the decision of
 * Docker's restart manager, where `on-failure:N` counts every restart since launch (uptime does not reset it).
 */
export function restartsAfter(policy: RestartPolicy, code: number, restarts: number): boolean {
  switch (policy.mode) {
    case 'no':
      return false;
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return code !== 0 && (policy.maxRetries === undefined || restarts < policy.maxRetries);
    default: {
      const unknown: never = policy;
      throw new Error(`unknown restart policy ${JSON.stringify(unknown)}`);
    }
  }
}

/** The wait before a restart after `quickFailures` exits in a row (1 for the first) without a long enough run. */
export function restartDelayMs(quickFailures: number): number {
  return Math.min(RESTART_BACKOFF.initialMs * 2 ** Math.max(0, quickFailures - 1), RESTART_BACKOFF.maxMs);
}

function exitOf(service: string, child: ChildProcess): ServiceExit {
  const signal = child.signalCode;
  const code = child.exitCode ?? (signal === null ? 1 : 128 + (constants.signals[signal] ?? 0));
  return { service, code, signal };
}

/** Resolves when `promise` settles, either way, or when `signal` aborts, whichever comes first. */
async function untilSettledOrAborted(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([promise.catch(() => undefined), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** The port a service listens on as the compose file declares it: its PORT variable, else its published port. */
function declaredPort(service: ServiceSpec): number {
  const port = Number(service.environment['PORT'] ?? publishedPortOf(service) ?? Number.NaN);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${service.name}: declare the port it listens on as environment PORT`);
  return port;
}

/** The host port the compose file publishes for a service (the gateway, an app), if any. */
function publishedPortOf(service: ServiceSpec | AppSpec): number | undefined {
  return 'publishedPort' in service ? service.publishedPort : undefined;
}

/** The origin of a URL a local process reported (`http://127.0.0.1:4100`) as browsers here name it: on localhost. */
function browserOrigin(listening: string): string {
  const url = new URL(listening);
  url.hostname = 'localhost';
  return url.origin;
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
  /** Its restart policy is the launcher's business: this runs one process, once. */
  service: Omit<ServiceSpec, 'restart'>;
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
