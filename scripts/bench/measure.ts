// What every benchmark workload measures: one autocannon run against one process, and that process's CPU and memory
// as /proc reports them (Linux only, as the benchmark machine is).
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import type { ServiceProcess } from '../../src/topology/launcher.js';
import { medianOf } from './stats.js';

export interface Target {
  /** `gateway-nocache`: the gateway with the public data cache off (CACHE_MODE=off), beside the default one. */
  name: 'baseline' | 'gateway' | 'gateway-nocache';
  process: ServiceProcess;
  /** The GraphQL endpoint. */
  url: string;
  /** The environment the process was started with. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** One measured run of one load against one target. */
export interface Round {
  requestsPerSec: number;
  p50: number;
  p99: number;
  failures: number;
  requests: number;
  cpuMsPerRequest: number;
  peakRssMb: number;
}

export interface LoadOptions {
  body: string;
  /** Every answer must be exactly this; anything else is a failure. */
  expectBody: string;
  seconds: number;
  headers: Record<string, string>;
  connections: number;
  /** Requests per second over all connections; absent: as fast as the target answers. */
  overallRate?: number;
  /** Called for each request, to vary its headers (e.g. the caller's token); `body` stays the same. */
  headersFor?: (index: number) => Record<string, string>;
  /** Called for each request, to vary its headers and body (a mix of operations); each answer must be its `expectBody`. */
  requestFor?: (index: number) => { headers: Record<string, string>; body: string; expectBody: string };
}

/** Drives `target` with autocannon; a wrong answer, an error, a timeout or a status other than 2xx is a failure. */
export async function load(target: Target, options: LoadOptions): Promise<Round> {
  const pid = target.process.child.pid ?? 0;
  const cpuBefore = cpuMs(pid);
  let peakRss = rssMb(pid);
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb(pid));
  }, 250);
  const { requestFor } = options;
  const headersFor = options.headersFor;
  const vary =
    requestFor ?? (headersFor === undefined ? undefined : (index: number) => ({ headers: headersFor(index), body: options.body, expectBody: options.expectBody }));
  let sent = 0;
  // autocannon takes expectBody or per-request setup, not both: with setup, the answers are compared here. A
  // connection has one request in flight at a time, so what its answer must be is kept on the connection's context.
  let mismatches = 0;
  const result = await autocannon({
    url: target.url,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    headers: options.headers,
    body: options.body,
    ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
    ...(vary === undefined
      ? { expectBody: options.expectBody }
      : {
          requests: [
            {
              setupRequest: (request, context) => {
                const index = sent;
                sent += 1;
                const next = vary(index);
                (context as { expectBody?: string }).expectBody = next.expectBody;
                return { ...request, headers: { ...options.headers, ...next.headers }, body: next.body };
              },
              onResponse: (status, body, context) => {
                if (status >= 200 && status < 300 && body !== (context as { expectBody?: string }).expectBody) mismatches += 1;
              },
            },
          ],
        }),
  });
  clearInterval(sampler);
  const requests = result.requests.total;
  const failures = result.errors + result.timeouts + result.non2xx + result.mismatches + mismatches;
  if (failures > 0) {
    const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([status, { count }]) => [status, count ?? 0]));
    process.stderr.write(`  ${failures} failures against ${target.name}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.mismatches + mismatches} wrong bodies, statuses ${JSON.stringify(statuses)}\n`);
  }
  return {
    requestsPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures,
    requests,
    cpuMsPerRequest: requests === 0 ? 0 : Number(((cpuMs(pid) - cpuBefore) / requests).toFixed(3)),
    peakRssMb: peakRss,
  };
}

/**
 * Resolves once `target` has been idle (under 5% of a core) for 300 ms, or after 10 s: so that a phase does not
 * start while the gateway still works off the last one's backlog, or still holds its connections (they count
 * against MAX_CONNECTIONS_PER_CLIENT until the gateway has seen them close).
 */
export async function untilIdle(target: Target): Promise<void> {
  const pid = target.process.child.pid ?? 0;
  const giveUpAt = Date.now() + 10_000;
  let quiet = 0;
  let last = cpuMs(pid);
  while (quiet < 3 && Date.now() < giveUpAt) {
    await new Promise((wake) => setTimeout(wake, 100));
    const now = cpuMs(pid);
    quiet = now - last <= 5 ? quiet + 1 : 0;
    last = now;
  }
}

/** CPU time (user + system) a process has used, from /proc. */
export function cpuMs(pid: number): number {
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 per second on Linux).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return 0;
  }
}

/** The median round of each measure (each picked on its own), failures and requests summed, the peak RSS the highest. */
export function median(values: Round[]): Round {
  const pick = (key: keyof Round) => medianOf(values.map((value) => value[key]));
  return {
    requestsPerSec: Math.round(pick('requestsPerSec')),
    p50: pick('p50'),
    p99: pick('p99'),
    failures: values.reduce((sum, value) => sum + value.failures, 0),
    requests: values.reduce((sum, value) => sum + value.requests, 0),
    cpuMsPerRequest: pick('cpuMsPerRequest'),
    peakRssMb: Math.max(...values.map((value) => value.peakRssMb)),
  };
}
