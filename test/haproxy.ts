import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { freePorts } from '../src/topology/freePorts.js';
import { waitFor } from './harness.js';

/** Debian's package puts it here; `.ci/run` installs it when it is missing. */
const HAPROXY_PATHS = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy'];

/** The haproxy binary, or undefined when it is not installed (the tests that need it are skipped). */
export function findHaproxy(): string | undefined {
  return HAPROXY_PATHS.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface HaproxyServer {
  /** The server's name in the config, which `X-Served-By` carries. */
  name: string;
  port: number;
}

export interface HaproxyOptions {
  binary: string;
  /** A private folder for the config file and the stats socket. */
  dir: string;
  servers: readonly HaproxyServer[];
  /** Each line haproxy writes (its warnings, and its alerts when a server goes down or comes back). */
  output?: (line: string) => void;
}

export type ServerStatus = 'UP' | 'DOWN' | 'NOLB' | 'MAINT' | string;

export interface RunningHaproxy {
  /**
   * A frontend that never retries (`retries 0`): a request that cannot be delivered to the server round-robin chose
   * fails. What it proves about a replica that leaves, the replica did alone.
   */
  strictUrl: string;
  /**
   * A frontend that retries on another replica a request whose connection could not be made (`retry-on
   * conn-failure`, `option redispatch`): such a request never reached a gateway, so resending it is safe for any
   * operation, mutations included. A request whose connection broke after it was sent is never resent.
   */
  redispatchingUrl: string;
  /** What the health checks say of each server, by name (from the stats socket). */
  status(): Promise<Record<string, ServerStatus>>;
  /** SIGTERM, then SIGKILL after a second; resolves once it exited. */
  stop(): Promise<void>;
}

/** Health checks every 200 ms, each given 500 ms; one failed check takes a server out, two good ones bring it back. */
export const HEALTH_CHECK = { interMs: 200, timeoutMs: 500, fall: 1, rise: 2 } as const;

/**
 * The HAProxy config for `servers`: two frontends (see RunningHaproxy) over one backend whose servers are
 * health-checked on `/ready`, and a second backend whose servers follow those checks (`track`), so both frontends
 * always agree on which replica is in. Every answer, HAProxy's own 502/503 included (`http-after-response`), names
 * the server that served it in `X-Served-By`.
 */
export function haproxyConfig(options: { servers: readonly HaproxyServer[]; strictPort: number; redispatchingPort: number; statsSocket: string }): string {
  const { interMs, fall, rise } = HEALTH_CHECK;
  const servers = (line: (server: HaproxyServer) => string) => options.servers.map((server) => `  server ${server.name} 127.0.0.1:${server.port} ${line(server)}`).join('\n');
  return `global
  stats socket ${options.statsSocket} mode 600 level user
  maxconn 2000

defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  # A loaded replica may take longer than one interval to answer /ready: a slow answer is not a failed check. A
  # replica leaves at most inter x fall + this after its SIGTERM, below the test's SHUTDOWN_DELAY_MS.
  timeout check ${HEALTH_CHECK.timeoutMs}ms
  # The gateways believe it (TRUSTED_PROXIES=127.0.0.1): the client's address, not HAProxy's, decides its budget.
  option forwardfor

frontend strict
  bind 127.0.0.1:${options.strictPort}
  http-after-response set-header X-Served-By %s
  default_backend strict

frontend redispatching
  bind 127.0.0.1:${options.redispatchingPort}
  http-after-response set-header X-Served-By %s
  default_backend redispatching

backend strict
  balance roundrobin
  retries 0
  option httpchk GET /ready
  http-check expect status 200
  default-server inter ${interMs}ms fall ${fall} rise ${rise}
${servers(() => 'check')}

backend redispatching
  balance roundrobin
  retries 2
  retry-on conn-failure
  option redispatch 1
${servers((server) => `track strict/${server.name}`)}
`;
}

/** Starts haproxy in the foreground (`-db`) as a child process, and resolves once both frontends accept connections. */
export async function startHaproxy(options: HaproxyOptions): Promise<RunningHaproxy> {
  // HAProxy cannot bind port 0 and say which it got.
  const [strictPort, redispatchingPort] = (await freePorts(2)) as [number, number];
  const statsSocket = join(options.dir, 'haproxy.sock');
  const configFile = join(options.dir, 'haproxy.cfg');
  await writeFile(configFile, haproxyConfig({ servers: options.servers, strictPort, redispatchingPort, statsSocket }));

  const child = spawn(options.binary, ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        lines.push(line);
        options.output?.(line);
      }
    });
  }
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (!running()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 1_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitFor(async () => {
      if (!running()) throw new Error(`haproxy exited:\n${lines.join('\n')}`);
      return (await accepts(strictPort)) && (await accepts(redispatchingPort));
    });
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    strictUrl: `http://127.0.0.1:${strictPort}`,
    redispatchingUrl: `http://127.0.0.1:${redispatchingPort}`,
    async status() {
      const statuses: Record<string, ServerStatus> = {};
      for (const row of parseStat(await statsCommand(statsSocket, 'show stat'))) {
        if (row['pxname'] === 'strict' && row['svname'] !== 'FRONTEND' && row['svname'] !== 'BACKEND') statuses[row['svname'] ?? ''] = row['status'] ?? '';
      }
      return statuses;
    },
    stop,
  };
}

/** `show stat`'s CSV, one record per proxy or server, keyed by its header (`# pxname,svname,...,status,...`). */
function parseStat(csv: string): Record<string, string>[] {
  const [header, ...rows] = csv.split('\n').filter(Boolean);
  const columns = (header ?? '').replace(/^# /, '').split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').map((value, index) => [columns[index] ?? '', value])));
}

function statsCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const connection = createConnection(socket, () => connection.end(`${command}\n`));
    connection.setEncoding('utf8');
    connection.on('data', (chunk: string) => (answer += chunk));
    connection.on('end', () => resolve(answer));
    connection.on('error', reject);
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = createConnection({ host: '127.0.0.1', port }, () => {
      connection.destroy();
      resolve(true);
    });
    connection.on('error', () => resolve(false));
  });
}

