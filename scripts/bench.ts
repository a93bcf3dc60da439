// npm run bench [-- --duration 10 --rounds 3 --warmup 3 --workload testQuery,small,owner --soak --gateway-env KEY=VALUE]
// Runs the demo subgraphs, this gateway with every protection on, and a plain @apollo/gateway baseline, each its own
// process with NODE_ENV=production, then drives both with autocannon (50 connections), alternating baseline and
// gateway rounds so that machine drift hits both. Every response is checked against the expected body: a wrong or
// partial answer counts as a failure, not as speed. Results print as a table and go to bench-results/latest.json.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair, importPKCS8, SignJWT } from 'jose';
import { readTopology } from '../src/topology/composeFile.js';
import { spawnService, type ServiceProcess } from '../src/topology/launcher.js';
import { TEST_QUERY } from '../test/fixtures/testQuery.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    workload: { type: 'string', default: 'testQuery,small,owner' },
    soak: { type: 'boolean', default: false },
    // KEY=VALUE for the gateway's environment, to measure one lever at a time (e.g. DEDUPLICATE_SUBGRAPH_REQUESTS=false).
    'gateway-env': { type: 'string', multiple: true, default: [] },
  },
});
const durationSec = Number(values.duration);
const warmupSec = Number(values.warmup);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

const ISSUER = 'https://bench.issuer/';
const AUDIENCE = 'https://bench.api';
const WORKLOADS: Record<string, { query: string; note: string }> = {
  testQuery: { query: TEST_QUERY, note: 'the gateways benchmark TestQuery: four subgraphs, deep' },
  small: { query: '{ topProducts { name price } }', note: 'one subgraph, small' },
  owner: { query: '{ me { id email } user(id: "2") { name email } }', note: 'authenticated, owner-dependent fields (checked after execution)' },
};

interface Target {
  name: 'baseline' | 'gateway';
  process: ServiceProcess;
  url: string;
}

interface Round {
  requestsPerSec: number;
  p50: number;
  p99: number;
  failures: number;
  requests: number;
  cpuMsPerRequest: number;
  peakRssMb: number;
}

const root = new URL('..', import.meta.url).pathname;
const dir = await mkdtemp(join(tmpdir(), 'bench-'));
const started: ServiceProcess[] = [];
const stopAll = async () => {
  for (const service of started.reverse()) await service.stop(5_000);
  await rm(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

try {
  // Keys: the client tokens' issuer (public key for the gateway), and the gateway's own signing key, which the
  // benchmark also uses to mint the baseline's subgraph tokens.
  const issuer = await generateKeyPair('ES256', { extractable: true });
  await writeFile(join(dir, 'issuer.json'), JSON.stringify({ keys: [{ ...(await exportJWK(issuer.publicKey)), kid: 'bench', alg: 'ES256' }] }));
  const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingPem = signing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await writeFile(join(dir, 'gateway-key.pem'), signingPem);
  const clientToken = await new SignJWT({ roles: [] })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
    .setSubject('1')
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime('2h')
    .sign(issuer.privateKey);

  const topology = await readTopology(join(root, 'docker-compose.yml'));
  const ports = [4201, 4202, 4203, 4204, 4205, 4206];
  const gatewayPort = ports[4] ?? 4205;
  const baselinePort = ports[5] ?? 4206;
  const base = { PATH: process.env['PATH'], NODE_ENV: 'production', APOLLO_TELEMETRY_DISABLED: 'true', LOG_LEVEL: 'warn' };

  const subgraphUrls: Record<string, string> = {};
  await Promise.all(
    topology.subgraphs.map(async (subgraph, index) => {
      const port = ports[index] ?? 0;
      const service = spawnService({
        service: subgraph,
        cwd: root,
        env: { ...base, HOST: '127.0.0.1', PORT: String(port), GATEWAY_JWKS_URL: `http://127.0.0.1:${gatewayPort}/.well-known/jwks.json` },
      });
      started.push(service);
      subgraphUrls[subgraph.name] = await service.url;
    }),
  );

  const gatewayEnv: Record<string, string | undefined> = {
    ...base,
    HOST: '127.0.0.1',
    PORT: String(gatewayPort),
    JWT_PUBLIC_KEYS: join(dir, 'issuer.json'),
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_ALGORITHMS: 'ES256',
    GATEWAY_SIGNING_KEY_FILE: join(dir, 'gateway-key.pem'),
    // A budget far above the load: rate limiting runs (and costs what it costs) but never refuses here.
    RATE_LIMIT_POINTS: '1000000000',
  };
  for (const [name, url] of Object.entries(subgraphUrls)) gatewayEnv[`SUBGRAPH_${name.toUpperCase()}_URL`] = url;
  for (const setting of values['gateway-env']) {
    const at = setting.indexOf('=');
    if (at < 1) throw new Error(`--gateway-env takes KEY=VALUE (got "${setting}")`);
    gatewayEnv[setting.slice(0, at)] = setting.slice(at + 1);
  }
  const gateway = spawnService({ service: { name: 'gateway', command: ['node', 'dist/src/main.js'], environment: {} }, cwd: root, env: gatewayEnv });
  started.push(gateway);

  const signingKey = await importPKCS8(signingPem, 'ES256');
  const gatewayUrl = new URL(await gateway.url).origin;
  const jwks = (await (await fetch(`${gatewayUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
  const subgraphTokens: Record<string, string> = {};
  for (const name of Object.keys(subgraphUrls)) {
    subgraphTokens[name] = await new SignJWT({ roles: [], scopes: [] })
      .setProtectedHeader({ alg: 'ES256', kid: jwks.keys[0]?.kid ?? '' })
      .setIssuer('graphql-gateway')
      .setAudience(name)
      .setExpirationTime('2h')
      .sign(signingKey);
  }
  const baseline = spawnService({
    service: { name: 'baseline', command: ['node', 'dist/scripts/baselineGateway.js'], environment: {} },
    cwd: root,
    env: { ...base, PORT: String(baselinePort), SUPERGRAPH_PATH: join(root, 'schema/supergraph.graphql'), SUBGRAPH_TOKENS: JSON.stringify(subgraphTokens), SUBGRAPH_URLS: JSON.stringify(subgraphUrls) },
  });
  started.push(baseline);
  const targets: Target[] = [
    { name: 'baseline', process: baseline, url: `${new URL(await baseline.url).origin}/` },
    { name: 'gateway', process: gateway, url: `${gatewayUrl}/graphql` },
  ];

  const headers = { 'content-type': 'application/json', authorization: `Bearer ${clientToken}` };
  const expected = async (target: Target, query: string): Promise<string> => {
    const response = await fetch(target.url, { method: 'POST', headers, body: JSON.stringify({ query }) });
    const text = await response.text();
    const body = JSON.parse(text) as { errors?: unknown[] };
    if (response.status !== 200 || (target.name === 'baseline' && body.errors !== undefined)) throw new Error(`${target.name} answers ${response.status}: ${text.slice(0, 300)}`);
    return text;
  };

  const results: Record<string, { note: string; baseline: Round[]; gateway: Round[] }> = {};
  const selected = values.soak ? [] : values.workload.split(',');
  for (const workload of selected) {
    const definition = WORKLOADS[workload];
    if (definition === undefined) throw new Error(`unknown workload ${workload}: choose from ${Object.keys(WORKLOADS).join(', ')}`);
    const body = JSON.stringify({ query: definition.query });
    const bodies = { baseline: await expected(targets[0] as Target, definition.query), gateway: await expected(targets[1] as Target, definition.query) };
    if (workload === 'testQuery' && JSON.parse(bodies.baseline).data === undefined) throw new Error('the baseline returned no data');
    if (workload === 'testQuery' && JSON.stringify(JSON.parse(bodies.baseline)) !== JSON.stringify(JSON.parse(bodies.gateway))) throw new Error('baseline and gateway disagree on the TestQuery');
    results[workload] = { note: definition.note, baseline: [], gateway: [] };
    for (const target of targets) await load(target, body, bodies[target.name], warmupSec, headers);
    for (let round = 0; round < rounds; round += 1) {
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        const measured = await load(target, body, bodies[target.name], durationSec, headers);
        results[workload]?.[target.name].push(measured);
        process.stderr.write(`${workload} ${target.name} round ${round + 1}: ${measured.requestsPerSec.toFixed(0)} req/s, p99 ${measured.p99} ms, ${measured.failures} failures\n`);
      }
    }
  }

  let soak: { rssStartMb: number; rssEndMb: number; durationSec: number; rssEvery5sMb: number[]; failures: number } | undefined;
  if (values.soak) {
    const body = JSON.stringify({ query: TEST_QUERY });
    const expectedBody = await expected(targets[1] as Target, TEST_QUERY);
    await load(targets[1] as Target, body, expectedBody, warmupSec, headers);
    const pid = gateway.child.pid ?? 0;
    const rssStartMb = rssMb(pid);
    const samples: number[] = [rssStartMb];
    const sampler = setInterval(() => samples.push(rssMb(pid)), 5_000);
    const measured = await load(targets[1] as Target, body, expectedBody, 60, headers);
    clearInterval(sampler);
    soak = { rssStartMb, rssEndMb: rssMb(pid), durationSec: 60, rssEvery5sMb: samples, failures: measured.failures };
  }

  const summary = Object.fromEntries(
    Object.entries(results).map(([workload, { note, baseline: baseRounds, gateway: gatewayRounds }]) => {
      const b = median(baseRounds);
      const g = median(gatewayRounds);
      return [workload, { note, baseline: b, gateway: g, ratio: Number((g.requestsPerSec / b.requestsPerSec).toFixed(2)) }];
    }),
  );
  const report = {
    date: new Date().toISOString(),
    gatewayEnv: values['gateway-env'],
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
    settings: { connections, durationSec, warmupSec, rounds },
    workloads: summary,
    ...(soak ? { soak } : {}),
  };
  await mkdir(join(root, 'bench-results'), { recursive: true });
  await writeFile(join(root, 'bench-results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${formatReport(report)}\n`);
} finally {
  await stopAll();
}

async function load(target: Target, body: string, expectBody: string, seconds: number, headers: Record<string, string>): Promise<Round> {
  const pid = target.process.child.pid ?? 0;
  const cpuBefore = cpuMs(pid);
  let peakRss = rssMb(pid);
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb(pid));
  }, 250);
  const result = await autocannon({
    url: target.url,
    method: 'POST',
    connections,
    duration: seconds,
    headers,
    body,
    expectBody,
  });
  clearInterval(sampler);
  const requests = result.requests.total;
  return {
    requestsPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.errors + result.timeouts + result.non2xx + result.mismatches,
    requests,
    cpuMsPerRequest: requests === 0 ? 0 : Number(((cpuMs(pid) - cpuBefore) / requests).toFixed(3)),
    peakRssMb: peakRss,
  };
}

/** CPU time (user + system) a process has used, from /proc; Linux only, as this machine is. */
function cpuMs(pid: number): number {
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 per second on Linux).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return 0;
  }
}

function median(values: Round[]): Round {
  const pick = (key: keyof Round) => {
    const sorted = values.map((value) => value[key]).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 0;
  };
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

function formatReport(report: { machine: object; workloads: Record<string, { baseline: Round; gateway: Round; ratio: number }>; soak?: object }): string {
  const lines = ['workload    target    req/s   p50 ms  p99 ms  failures  cpu ms/req  peak rss MB  ratio'];
  for (const [workload, { baseline, gateway, ratio }] of Object.entries(report.workloads)) {
    for (const [name, round] of [['baseline', baseline], ['gateway', gateway]] as const) {
      lines.push(
        `${workload.padEnd(11)} ${name.padEnd(9)} ${String(round.requestsPerSec).padStart(6)} ${String(round.p50).padStart(7)} ${String(round.p99).padStart(7)} ${String(round.failures).padStart(9)} ${String(round.cpuMsPerRequest).padStart(11)} ${String(round.peakRssMb).padStart(12)}  ${name === 'gateway' ? `${ratio}x` : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n\nmachine: ${JSON.stringify(report.machine)}${report.soak ? `\nsoak: ${JSON.stringify(report.soak)}` : ''}`;
}
