// npm run bench [-- --duration 10 --rounds 3 --warmup 3 --workload testQuery,small,owner,callers,mixed --soak --soak-warmup 30 --cache both|on|off --gateway-env KEY=VALUE]
// Runs the demo subgraphs, this gateway with every protection on (with `--cache both`, the default, twice: with its
// public data cache and without), and a plain @apollo/gateway baseline, each its own process with
// NODE_ENV=production, then drives each with autocannon (50 connections), the targets' order rotating round by round
// so that machine drift hits all. Every response is checked against the expected body: a wrong or partial answer
// counts as a failure, not as speed. `callers` and `mixed` send from 200 distinct tokens; `mixed` sends the TestQuery,
// the small query and the owner-dependent one in turn. `--soak` then runs `mixed` on the gateway for 60 s (after
// `--soak-warmup` seconds) and samples its RSS every 5 s; `--workload ''` with it soaks alone. Results print as a
// table and go to bench-results/latest.json.
//
// Two workloads measure the gateway alone, under abuse, and are not in the default set (see scripts/bench/):
// `abuse` (the TestQuery load alone, beside fragment-expansion bombs, and beside graphql-js's quadratic validation
// shape; `--bomb-rate 20` per second) and `planMiss` (one subject flooding never-planned documents under the default
// rate budget, with the default PLAN_MISS_POINTS and with 0, while well-behaved callers send the TestQuery).
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, importPKCS8, SignJWT } from 'jose';
import { readTopology } from '../src/topology/composeFile.js';
import { spawnService, type ServiceProcess } from '../src/topology/launcher.js';
import { TEST_QUERY } from '../test/fixtures/testQuery.js';
import { formatAbuse, runAbuse, type AbuseSummary } from './bench/abuse.js';
import type { BenchContext } from './bench/context.js';
import { load as loadWith, median, rssMb, type Round, type Target } from './bench/measure.js';
import { formatPlanMiss, runPlanMiss, type PlanMissSummary } from './bench/planMiss.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    workload: { type: 'string', default: 'testQuery,small,owner,callers,mixed' },
    soak: { type: 'boolean', default: false },
    'soak-warmup': { type: 'string', default: '30' },
    // Bombs (and quadratic documents) per second beside the abuse workload's TestQuery load.
    'bomb-rate': { type: 'string', default: '20' },
    // The public data cache (README, Caching public data): `both` (the default) measures the gateway with its default
    // (CACHE_MODE=memory) and, beside it, with the cache off; `on` or `off` measures one of them.
    cache: { type: 'string', default: 'both' },
    // KEY=VALUE for the gateway's environment, to measure one lever at a time (e.g. DEDUPLICATE_SUBGRAPH_REQUESTS=false).
    'gateway-env': { type: 'string', multiple: true, default: [] },
  },
});
const durationSec = Number(values.duration);
const warmupSec = Number(values.warmup);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const bombRatePerSec = Number(values['bomb-rate']);
if (values.cache !== 'on' && values.cache !== 'off' && values.cache !== 'both') throw new Error(`--cache takes both, on or off (got "${values.cache}")`);

const ISSUER = 'https://bench.issuer/';
const AUDIENCE = 'https://bench.api';
const SMALL_QUERY = '{ topProducts { name price } }';
const OWNER_QUERY = '{ me { id email } user(id: "2") { name email } }';
/** The demo's accounts hold users 1 to 6. */
const DEMO_USERS = 6;
/**
 * `queries`: the operations sent, in turn, request by request; `callers`: that many distinct client tokens, one per
 * request round-robin (default: one caller for every request).
 */
const WORKLOADS: Record<string, { queries: readonly string[]; note: string; callers?: number }> = {
  testQuery: { queries: [TEST_QUERY], note: 'the gateways benchmark TestQuery: four subgraphs, deep' },
  small: { queries: [SMALL_QUERY], note: 'one subgraph, small' },
  owner: { queries: [OWNER_QUERY], note: 'authenticated, owner-dependent fields (checked after execution)' },
  // Real traffic has many callers: in-flight deduplication shares a subgraph request only between callers whose
  // tokens the subgraph sees alike, and every token is verified once per caller.
  callers: { queries: [TEST_QUERY], note: 'TestQuery from 200 distinct callers, round-robin', callers: 200 },
  // And many kinds of operation at once: deep public data, small public data, and answers that depend on the caller.
  mixed: { queries: [TEST_QUERY, SMALL_QUERY, OWNER_QUERY], note: 'TestQuery, small and owner-dependent queries in turn, from 200 distinct callers', callers: 200 },
};
/** Only these ask for a field the caller may not read (user 2's email); any other error is a gateway measuring nothing. */
const ANSWERED_WITH_DENIALS = new Set([OWNER_QUERY]);
/** Workloads on the gateway alone, each with its own phases and report (scripts/bench/). */
const GATEWAY_WORKLOADS = ['abuse', 'planMiss'] as const;
type GatewayWorkload = (typeof GATEWAY_WORKLOADS)[number];
const isGatewayWorkload = (name: string): name is GatewayWorkload => (GATEWAY_WORKLOADS as readonly string[]).includes(name);
/** A budget far above the load: rate limiting runs (and costs what it costs) but never refuses. */
const FAR_BUDGET = { RATE_LIMIT_POINTS: '1000000000' };
type GatewayOptions = Parameters<BenchContext['gateway']>[0];

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
  // `caller`: a token id, so that callers who are the same user still carry distinct tokens (each verified once).
  const clientTokenFor = (subject: string, caller?: string) => {
    const token = new SignJWT({ roles: [] }).setProtectedHeader({ alg: 'ES256', kid: 'bench' }).setSubject(subject).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('2h');
    return (caller === undefined ? token : token.setJti(caller)).sign(issuer.privateKey);
  };
  const clientToken = await clientTokenFor('1');

  const topology = await readTopology(join(root, 'docker-compose.yml'));
  const ports = [4201, 4202, 4203, 4204, 4205, 4206, 4207];
  const gatewayPort = ports[4] ?? 4205;
  const baselinePort = ports[5] ?? 4206;
  const noCachePort = ports[6] ?? 4207;
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
    CACHE_MODE: values.cache === 'off' ? 'off' : 'memory',
    // The demo graph's config module (its access policy and limits), as docker-compose.yml gives it: without it the
    // gateway would serve with no policy, denying every field, and measure nothing.
    ...(existsSync(join(root, 'dist/gateway.config.js')) ? { GATEWAY_CONFIG: join(root, 'dist/gateway.config.js') } : {}),
  };
  for (const [name, url] of Object.entries(subgraphUrls)) gatewayEnv[`SUBGRAPH_${name.toUpperCase()}_URL`] = url;
  const userEnv: Record<string, string> = {};
  for (const setting of values['gateway-env']) {
    const at = setting.indexOf('=');
    if (at < 1) throw new Error(`--gateway-env takes KEY=VALUE (got "${setting}")`);
    userEnv[setting.slice(0, at)] = setting.slice(at + 1);
  }

  // One gateway at a time, on its port: a workload that needs other settings (planMiss) gets a fresh process.
  let running: { key: string; target: Target } | undefined;
  const gatewayFor = async (options: GatewayOptions): Promise<Target> => {
    const overrides = { ...(options.budget === 'far' ? FAR_BUDGET : {}), ...options.env };
    const key = JSON.stringify(overrides);
    if (running?.key === key) return running.target;
    if (running !== undefined) {
      await running.target.process.stop(5_000);
      started.splice(started.indexOf(running.target.process), 1);
      running = undefined;
    }
    // --gateway-env last: what the command line says wins.
    const env = { ...gatewayEnv, ...overrides, ...userEnv };
    const service = spawnService({ service: { name: 'gateway', command: ['node', 'dist/scripts/bench/gateway.js'], environment: {} }, cwd: root, env });
    started.push(service);
    running = { key, target: { name: 'gateway', process: service, url: `${new URL(await service.url).origin}/graphql`, env } };
    return running.target;
  };

  const selected = values.workload.split(',').filter((name) => name !== '');
  for (const workload of selected) {
    if (WORKLOADS[workload] === undefined && !isGatewayWorkload(workload)) throw new Error(`unknown workload ${workload}: choose from ${[...Object.keys(WORKLOADS), ...GATEWAY_WORKLOADS].join(', ')}`);
  }
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${clientToken}` };
  const expected = async (target: Target, query: string, token = clientToken): Promise<string> => {
    const response = await fetch(target.url, { method: 'POST', headers: { ...headers, authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
    const text = await response.text();
    const body = JSON.parse(text) as { errors?: unknown[] };
    if (response.status !== 200 || (target.name === 'baseline' && body.errors !== undefined)) throw new Error(`${target.name} answers ${response.status}: ${text.slice(0, 300)}`);
    return text;
  };

  // The baseline only when a workload compares against it.
  let baselineTarget: Target | undefined;
  const baselineFor = async (): Promise<Target> => {
    if (baselineTarget !== undefined) return baselineTarget;
    const gateway = await gatewayFor({ budget: 'far' });
    const signingKey = await importPKCS8(signingPem, 'ES256');
    const jwks = (await (await fetch(`${new URL(gateway.url).origin}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
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
    baselineTarget = { name: 'baseline', process: baseline, url: `${new URL(await baseline.url).origin}/` };
    return baselineTarget;
  };

  // With --cache both, the gateway with its cache off beside the default one, for as long as the benchmark runs.
  let noCacheTarget: Target | undefined;
  const noCacheFor = async (): Promise<Target> => {
    if (noCacheTarget !== undefined) return noCacheTarget;
    const env = { ...gatewayEnv, ...FAR_BUDGET, ...userEnv, PORT: String(noCachePort), CACHE_MODE: 'off' };
    const service = spawnService({ service: { name: 'gateway-nocache', command: ['node', 'dist/scripts/bench/gateway.js'], environment: {} }, cwd: root, env });
    started.push(service);
    noCacheTarget = { name: 'gateway-nocache', process: service, url: `${new URL(await service.url).origin}/graphql`, env };
    return noCacheTarget;
  };

  const context: BenchContext = {
    gateway: gatewayFor,
    token: (subject) => clientTokenFor(subject),
    testQuery: TEST_QUERY,
    durationSec,
    warmupSec,
    rounds,
    connections,
    log: (line) => process.stderr.write(`${line}\n`),
  };

  /**
   * What each target must answer to each operation of a workload, checked, and a function that drives a target with
   * the workload for some seconds (each answer compared with what it must be).
   */
  const runnerFor = async (workload: string, definition: { queries: readonly string[]; callers?: number }, targets: readonly Target[]) => {
    // Many callers are the demo's users in turn (its accounts hold six), each caller with a token of its own: the
    // owner-dependent query then answers each with their own email, as real traffic would.
    const callers = Array.from({ length: definition.callers ?? 1 }, (_, index) => ({ subject: String((index % DEMO_USERS) + 1), caller: `caller-${index + 1}` }));
    const tokens = await Promise.all(callers.map(({ subject, caller }) => (definition.callers === undefined ? Promise.resolve(clientToken) : clientTokenFor(subject, caller))));
    // What each target must answer to each operation, per user: asked by a user's first caller and checked with their
    // last, so that every caller who is that user must get the same answer.
    const answers = new Map<Target['name'], Map<string, string[]>>();
    for (const target of targets) {
      const byUser = new Map<string, string[]>();
      for (const subject of new Set(callers.map((caller) => caller.subject))) {
        const first = callers.findIndex((caller) => caller.subject === subject);
        const last = callers.findLastIndex((caller) => caller.subject === subject);
        const bodies: string[] = [];
        for (const query of definition.queries) {
          const answer = await expected(target, query, tokens[first] ?? clientToken);
          const again = await expected(target, query, tokens[last] ?? clientToken);
          if (answer !== again) throw new Error(`${workload}: ${target.name} answers user ${subject}'s callers differently: ${answer.slice(0, 200)} / ${again.slice(0, 200)}`);
          if (target.name !== 'baseline' && !ANSWERED_WITH_DENIALS.has(query) && (JSON.parse(answer) as { errors?: unknown[] }).errors !== undefined) throw new Error(`the gateway answers ${workload} with errors: ${answer.slice(0, 300)}`);
          bodies.push(answer);
        }
        byUser.set(subject, bodies);
      }
      answers.set(target.name, byUser);
    }
    const testQueryAt = definition.queries.indexOf(TEST_QUERY);
    if (testQueryAt !== -1) {
      const [baseline, ...gateways] = targets.map((target) => JSON.stringify(JSON.parse(answers.get(target.name)?.get('1')?.[testQueryAt] ?? '{}')));
      if (JSON.parse(baseline ?? '{}').data === undefined) throw new Error('the baseline returned no data');
      if (gateways.some((answer) => answer !== baseline)) throw new Error('baseline and gateway disagree on the TestQuery');
    }
    const run = (target: Target, seconds: number) => {
      const byUser = answers.get(target.name) ?? new Map<string, string[]>();
      const bodiesOf = (index: number) => byUser.get(callers[index % callers.length]?.subject ?? '1') ?? [];
      const queries = definition.queries.map((query) => JSON.stringify({ query }));
      const one = queries.length === 1 && tokens.length === 1;
      return loadWith(target, {
        body: queries[0] ?? '',
        expectBody: bodiesOf(0)[0] ?? '',
        seconds,
        headers,
        connections,
        ...(one
          ? {}
          : {
              // Operation and caller each cycle on their own (3 and 200 are coprime): every caller sends every operation.
              requestFor: (index: number) => ({ headers: { ...headers, authorization: `Bearer ${tokens[index % tokens.length] ?? ''}` }, body: queries[index % queries.length] ?? '', expectBody: bodiesOf(index)[index % queries.length] ?? '' }),
            }),
      });
    };
    return run;
  };

  const results: Record<string, { note: string; rounds: Partial<Record<Target['name'], Round[]>> }> = {};
  let abuse: AbuseSummary | undefined;
  let planMiss: PlanMissSummary | undefined;
  for (const workload of selected) {
    if (workload === 'abuse') {
      abuse = await runAbuse(context, { bombRatePerSec });
      continue;
    }
    if (workload === 'planMiss') {
      planMiss = await runPlanMiss(context);
      continue;
    }
    const definition = WORKLOADS[workload];
    if (definition === undefined) continue;
    const targets: Target[] = [await baselineFor(), await gatewayFor({ budget: 'far' }), ...(values.cache === 'both' ? [await noCacheFor()] : [])];
    const run = await runnerFor(workload, definition, targets);
    results[workload] = { note: definition.note, rounds: {} };
    for (const target of targets) await run(target, warmupSec);
    for (let round = 0; round < rounds; round += 1) {
      // Each round in another order, so that drift over the run hits every target alike.
      const order = targets.map((_, index) => targets[(index + round) % targets.length] as Target);
      for (const target of order) {
        const measured = await run(target, durationSec);
        (results[workload].rounds[target.name] ??= []).push(measured);
        process.stderr.write(`${workload} ${target.name} round ${round + 1}: ${measured.requestsPerSec.toFixed(0)} req/s, p99 ${measured.p99} ms, ${measured.failures} failures\n`);
      }
    }
  }

  let soak: { workload: string; rssStartMb: number; rssEndMb: number; durationSec: number; rssEvery5sMb: number[]; failures: number; requests: number } | undefined;
  if (values.soak) {
    // The mixed workload: many callers and kinds of operation fill every cache the gateway keeps (plans, documents,
    // analyses, tokens, public data) to its bound, which one repeated request would not.
    const gateway = await gatewayFor({ budget: 'far' });
    const run = await runnerFor('mixed', WORKLOADS['mixed'] ?? { queries: [TEST_QUERY] }, [gateway]);
    await run(gateway, Number(values['soak-warmup']));
    const pid = gateway.process.child.pid ?? 0;
    const rssStartMb = rssMb(pid);
    const samples: number[] = [rssStartMb];
    const sampler = setInterval(() => samples.push(rssMb(pid)), 5_000);
    const measured = await run(gateway, 60);
    clearInterval(sampler);
    soak = { workload: 'mixed', rssStartMb, rssEndMb: rssMb(pid), durationSec: 60, rssEvery5sMb: samples, failures: measured.failures, requests: measured.requests };
  }

  const summary = Object.fromEntries(
    Object.entries(results).map(([workload, { note, rounds: byTarget }]) => {
      const medians = Object.fromEntries(Object.entries(byTarget).map(([name, measured]) => [name, median(measured ?? [])])) as Partial<Record<Target['name'], Round>>;
      const baseline = medians.baseline;
      const ratio = (round: Round | undefined) => (round === undefined || baseline === undefined ? undefined : Number((round.requestsPerSec / baseline.requestsPerSec).toFixed(2)));
      return [workload, { note, ...medians, ratio: ratio(medians.gateway), ...(medians['gateway-nocache'] ? { ratioNoCache: ratio(medians['gateway-nocache']) } : {}) }];
    }),
  );
  const report = {
    date: new Date().toISOString(),
    gatewayEnv: values['gateway-env'],
    cache: values.cache,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
    settings: { connections, durationSec, warmupSec, rounds },
    workloads: summary,
    ...(abuse ? { abuse: { ...abuse, bombRatePerSec } } : {}),
    ...(planMiss ? { planMiss } : {}),
    ...(soak ? { soak } : {}),
  };
  await mkdir(join(root, 'bench-results'), { recursive: true });
  await writeFile(join(root, 'bench-results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${formatReport(report)}\n`);
} finally {
  await stopAll();
}

function formatReport(report: { machine: object; workloads: Record<string, Partial<Record<Target['name'], Round>>>; abuse?: AbuseSummary; planMiss?: PlanMissSummary; soak?: object }): string {
  const lines = ['workload    target            req/s   p50 ms  p99 ms  failures  cpu ms/req  peak rss MB  ratio'];
  for (const [workload, rounds] of Object.entries(report.workloads)) {
    const baseline = rounds.baseline;
    for (const name of ['baseline', 'gateway', 'gateway-nocache'] as const) {
      const round = rounds[name];
      if (round === undefined) continue;
      const ratio = name === 'baseline' || baseline === undefined ? '' : `${(round.requestsPerSec / baseline.requestsPerSec).toFixed(2)}x`;
      lines.push(
        `${workload.padEnd(11)} ${name.padEnd(15)} ${String(round.requestsPerSec).padStart(7)} ${String(round.p50).padStart(8)} ${String(round.p99).padStart(7)} ${String(round.failures).padStart(9)} ${String(round.cpuMsPerRequest).padStart(11)} ${String(round.peakRssMb).padStart(12)}  ${ratio}`,
      );
    }
  }
  const own = [report.abuse ? formatAbuse(report.abuse) : undefined, report.planMiss ? formatPlanMiss(report.planMiss) : undefined].filter((part) => part !== undefined);
  const table = Object.keys(report.workloads).length > 0 ? `${lines.join('\n')}\n\n` : '';
  return `${table}${own.map((part) => `${part}\n\n`).join('')}machine: ${JSON.stringify(report.machine)}${report.soak ? `\nsoak: ${JSON.stringify(report.soak)}` : ''}`;
}
