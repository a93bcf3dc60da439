import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeNeeding } from './machineTools.js';
import { loadOrCreateDevKey, signDevToken, type DevKey } from '../src/auth/devIssuer.js';
import { spawnService, type ServiceProcess } from '../src/topology/launcher.js';
import { findHaproxy, HEALTH_CHECK, startHaproxy, type RunningHaproxy } from './haproxy.js';
import { cleanupSteps, COMMITTED_SUPERGRAPH, SUBGRAPH_NAMES, startStack, waitFor, type Stack } from './harness.js';
import { clearOfWindowEdge, TEST_WINDOW_SEC } from './scoreWindow.js';

const ROOT = new URL('..', import.meta.url).pathname;
const HAPROXY = findHaproxy();
const MISSING_HAPROXY = HAPROXY === undefined ? 'haproxy is missing: apt-get install haproxy (.ci/run does)' : undefined;
const REDIS_URL = 'redis://127.0.0.1:6379';
/** The run's own Redis keys (REDIS_KEY_PREFIX): rate budgets, suspicion scores and blocks of this run only. */
const RUN = `lb-${randomUUID()}`;
const POINTS = 10;
/**
 * What the gateway waits, answering /ready with 503, before it closes its listener (see SHUTDOWN_DELAY_MS): twice the
 * longest HAProxy may take to see the 503 (its check interval times its fall count, plus one check's timeout).
 */
const SHUTDOWN_DELAY_MS = 2 * (HEALTH_CHECK.interMs * HEALTH_CHECK.fall + HEALTH_CHECK.timeoutMs);
const REPLICAS = ['gw1', 'gw2', 'gw3'] as const;
type ReplicaName = (typeof REPLICAS)[number];

/** Reaches all four subgraphs: a request that fails anywhere along the way shows. */
const LOAD_QUERY = 'query Load { topProducts(first: 2) { name inStock reviews(first: 1) { rating author { name } } } }';
/** Costs one point: the budget counts requests. */
const CHEAP_QUERY = 'query Cheap { topProducts(first: 1) { name } }';

interface Replica {
  name: ReplicaName;
  port: number;
  origin: string;
  process: ServiceProcess;
}

/**
 * Three gateway processes (dist, as a container runs them) sharing Redis, one signing key and one development
 * issuer, behind HAProxy; the four demo subgraphs and the in-process gateway whose JWKS they trust come from the
 * harness (the replicas sign with the same key file). `serving()` brings back any replica a test took down.
 */
interface Fixture {
  haproxy: RunningHaproxy;
  replicas: Record<ReplicaName, Replica>;
  /** An Authorization header for `subject` (made unique to this run). */
  as(subject: string): Promise<Record<string, string>>;
  /** Restarts every replica that exited, on its port, and waits until HAProxy sends to all three. */
  serving(): Promise<void>;
  stop(): Promise<void>;
}

async function startFixture(haproxyBinary: string): Promise<Fixture> {
  const { cleanups, run: stop } = cleanupSteps();
  try {
    const dir = await mkdtemp(join(tmpdir(), 'load-balancer-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const signingKeyFile = join(dir, 'gateway-key.pem');
    await writeFile(signingKeyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const devKeyFile = join(dir, 'dev-issuer-key.json');
    const devKey: DevKey = await loadOrCreateDevKey(devKeyFile);

    const stack: Stack = await startStack({ env: { GATEWAY_SIGNING_KEY_FILE: signingKeyFile } });
    cleanups.push(() => stack.stop());
    // Budgets, scores and blocks are in Redis under the run's prefix: those keys go, whatever else is there.
    cleanups.push(async () => {
      const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        for await (const keys of redis.scanStream({ match: `${RUN}:*`, count: 1000 }) as AsyncIterable<string[]>) {
          if (keys.length > 0) await redis.del(...keys);
        }
      } finally {
        redis.disconnect();
      }
    });

    const env: Record<string, string | undefined> = {
      PATH: process.env['PATH'],
      // Development mode: the dev issuer's tokens (DEV_KEY_FILE, shared) tell callers apart; it binds loopback only.
      NODE_ENV: 'development',
      GATEWAY_CONFIG: 'dist/gateway.config.js',
      LOG_LEVEL: 'warn',
      SUPERGRAPH_PATH: COMMITTED_SUPERGRAPH.pathname,
      GATEWAY_SIGNING_KEY_FILE: signingKeyFile,
      DEV_KEY_FILE: devKeyFile,
      REDIS_URL,
      REDIS_KEY_PREFIX: RUN,
      // As in production: a client blocked through one replica is blocked through all.
      CLIENT_BLOCKING: 'enforce',
      // Ten probes make exactly the threshold: counted in one window, whose edge the tests stay clear of (scoreWindow.ts).
      CLIENT_BLOCKING_WINDOW_SEC: String(TEST_WINDOW_SEC),
      RATE_LIMIT_POINTS: String(POINTS),
      RATE_LIMIT_WINDOW_SEC: '60',
      // Each replica plans each document once; that charge would land on whichever caller came first, and make the
      // budget's arithmetic depend on the order in which round-robin met the replicas.
      PLAN_MISS_POINTS: '0',
      TRUSTED_PROXIES: '127.0.0.1',
      SHUTDOWN_TIMEOUT_MS: '10000',
      SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
    };
    for (const name of SUBGRAPH_NAMES) env[`SUBGRAPH_${name.toUpperCase()}_URL`] = stack.subgraphs[name].url;

    const spawnReplica = (name: ReplicaName, port: number) =>
      spawnService({ service: { name, command: ['node', 'dist/src/cli/main.js', 'serve'], environment: {} }, cwd: ROOT, env: { ...env, PORT: String(port) } });
    const replicas = {} as Record<ReplicaName, Replica>;
    cleanups.push(async () => {
      await Promise.all(Object.values(replicas).map((replica) => replica.process.kill()));
    });
    const started = REPLICAS.map((name) => ({ name, process: spawnReplica(name, 0) }));
    for (const { name, process } of started) replicas[name] = { name, port: 0, origin: '', process };
    for (const { name, process } of started) {
      const origin = new URL(await process.url).origin;
      replicas[name] = { name, port: Number(new URL(origin).port), origin, process };
    }

    const haproxy = await startHaproxy({ binary: haproxyBinary, dir, servers: REPLICAS.map((name) => ({ name, port: replicas[name].port })) });
    cleanups.push(() => haproxy.stop());
    const serving = async () => {
      for (const name of REPLICAS) {
        const replica = replicas[name];
        if (replica.process.child.exitCode !== null || replica.process.child.signalCode !== null) {
          replicas[name] = { ...replica, process: spawnReplica(name, replica.port) };
          await replicas[name].process.url;
        }
      }
      await waitFor(async () => Object.values(await haproxy.status()).filter((status) => status === 'UP').length === REPLICAS.length, 20_000);
    };
    await serving();

    const tokens = new Map<string, Promise<string>>();
    const as = async (subject: string) => {
      const name = `${RUN}-${subject}`;
      let token = tokens.get(name);
      if (token === undefined) tokens.set(name, (token = signDevToken(devKey, { subject: name, roles: [], scopes: [], ttlSec: 300 })));
      return { authorization: `Bearer ${await token}` };
    };
    return { haproxy, replicas, as, serving, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Outcome {
  /** When it was sent and answered (or failed), from performance.now(). */
  sentAt: number;
  doneAt: number;
  status: number;
  /** The server HAProxy gave it to (`X-Served-By`). */
  servedBy: string | undefined;
  /** Why it counts as failed: a network error, a status other than 200, or errors in the body. */
  failure: string | undefined;
}

interface Load {
  outcomes: Outcome[];
  stop(): Promise<void>;
}

/** At most this many requests, and for at most this long, whatever happens. */
const LOAD_BOUNDS = { requests: 20_000, ms: 30_000 } as const;

/**
 * `concurrency` loops, each sending LOAD_QUERY as soon as the previous one was answered, over keep-alive connections
 * to `origin`, until stopped. LOAD_QUERY costs 6 of a caller's POINTS: each request comes from a caller of its own
 * (`<callers>-<n>`), so that the load is never refused for its rate.
 */
function startLoad(origin: string, options: { concurrency: number; as: Fixture['as']; callers: string }): Load {
  const pool = new Pool(origin, { connections: options.concurrency });
  const outcomes: Outcome[] = [];
  const startedAt = performance.now();
  let sent = 0;
  let stopped = false;
  const body = JSON.stringify({ query: LOAD_QUERY });
  const loop = async () => {
    while (!stopped && sent < LOAD_BOUNDS.requests && performance.now() - startedAt < LOAD_BOUNDS.ms) {
      const caller = `${options.callers}-${sent}`;
      sent += 1;
      const headers = { 'content-type': 'application/json', ...(await options.as(caller)) };
      const sentAt = performance.now();
      const outcome = await pool.request({ path: '/graphql', method: 'POST', headers, body }).then(
        async (response) => {
          const text = await response.body.text();
          const servedBy = response.headers['x-served-by'];
          const failure = response.statusCode !== 200 ? `status ${response.statusCode}: ${text.slice(0, 200)}` : text.includes('"errors"') ? `errors: ${text.slice(0, 200)}` : undefined;
          return { status: response.statusCode, servedBy: typeof servedBy === 'string' ? servedBy : undefined, failure };
        },
        (error: Error) => ({ status: 0, servedBy: undefined, failure: `${error.name}: ${error.message}` }),
      );
      outcomes.push({ sentAt, doneAt: performance.now(), ...outcome });
    }
  };
  const loops = Array.from({ length: options.concurrency }, loop);
  let stopping: Promise<void> | undefined;
  return {
    outcomes,
    stop() {
      stopped = true;
      stopping ??= Promise.all(loops).then(() => pool.close());
      return stopping;
    },
  };
}

/** GETs `/ready` on a connection of its own, as a health check does: its status, or 0 when no connection was made. */
function readyStatus(origin: string): Promise<number> {
  return new Promise((resolve) => {
    const request = httpRequest(`${origin}/ready`, { agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', () => resolve(0));
    request.end();
  });
}

/** How many answers each server gave, by X-Served-By (`none`: no answer came). */
const countBy = (answers: readonly { servedBy?: string | null | undefined }[]) => {
  const counts: Record<string, number> = {};
  for (const { servedBy } of answers) counts[servedBy ?? 'none'] = (counts[servedBy ?? 'none'] ?? 0) + 1;
  return counts;
};

describeNeeding(MISSING_HAPROXY, 'three gateway replicas behind HAProxy', () => {
  let fixture: Fixture;
  beforeAll(async () => {
    fixture = await startFixture(HAPROXY ?? '');
  }, 90_000);
  afterAll(async () => {
    await fixture?.stop();
  });

  // Whatever every replica must agree on about a caller, shown through the balancer (X-Served-By names the replica).
  describe('one state shared through Redis', () => {
    beforeEach(() => clearOfWindowEdge());

    it('refuses a caller spread over the three replicas after one budget, not three', async () => {
      const headers = { 'content-type': 'application/json', ...(await fixture.as('budget')) };
      const answers: { status: number; servedBy: string | null; code: unknown }[] = [];
      for (let index = 0; index < POINTS + 5; index += 1) {
        const response = await fetch(`${fixture.haproxy.strictUrl}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query: CHEAP_QUERY }) });
        const body = (await response.json()) as { errors?: { extensions?: { code?: unknown } }[] };
        answers.push({ status: response.status, servedBy: response.headers.get('x-served-by'), code: body.errors?.[0]?.extensions?.code });
      }
      console.log(`load balancer, one budget: ${answers.length} requests, ${answers.filter((answer) => answer.status === 200).length} answered 200, then 429; served by ${JSON.stringify(countBy(answers))}`);

      expect(answers.slice(0, POINTS).map((answer) => answer.status)).toEqual(Array(POINTS).fill(200));
      expect(answers.slice(POINTS).map(({ status, code }) => ({ status, code }))).toEqual(Array(5).fill({ status: 429, code: 'RATE_LIMITED' }));
      // Round-robin spread them: every replica counted into the one budget, and every replica refused.
      expect(new Set(answers.slice(0, POINTS).map((answer) => answer.servedBy))).toEqual(new Set(REPLICAS));
      expect(new Set(answers.slice(POINTS).map((answer) => answer.servedBy))).toEqual(new Set(REPLICAS));
    });

    it('blocks a prober spread over the three replicas on one score, and refuses it through every replica', async () => {
      const headers = { 'content-type': 'application/json', ...(await fixture.as('prober')) };
      const post = async (query: string) => {
        const response = await fetch(`${fixture.haproxy.strictUrl}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query }) });
        const body = (await response.json()) as { errors?: { extensions?: { code?: unknown } }[] };
        return { status: response.status, servedBy: response.headers.get('x-served-by'), code: body.errors?.[0]?.extensions?.code, retryAfter: response.headers.get('retry-after') };
      };
      const probes = [];
      for (let probe = 0; probe < 10; probe += 1) probes.push(await post(`{ topProducts { secret${probe} } }`));
      expect(probes.map(({ status, code }) => ({ status, code }))).toEqual(Array(10).fill({ status: 400, code: 'GRAPHQL_VALIDATION_FAILED' }));
      // Round-robin: each replica saw a third of the probes, and one shared score counted them all.
      expect(new Set(probes.map((answer) => answer.servedBy))).toEqual(new Set(REPLICAS));

      await waitFor(async () => (await post(CHEAP_QUERY)).code === 'CLIENT_BLOCKED', 5_000);
      const refused = [];
      for (let request = 0; request < 6; request += 1) refused.push(await post(CHEAP_QUERY));
      console.log(`load balancer, one block list: 10 probes served by ${JSON.stringify(countBy(probes))}, then refused by ${JSON.stringify(countBy(refused))}`);
      expect(refused.map(({ status, code }) => ({ status, code }))).toEqual(Array(6).fill({ status: 429, code: 'CLIENT_BLOCKED' }));
      expect(new Set(refused.map((answer) => answer.servedBy))).toEqual(new Set(REPLICAS));
      expect(refused.every((answer) => Number(answer.retryAfter) >= 1 && Number(answer.retryAfter) <= 60)).toBe(true);

      const bystander = await fetch(`${fixture.haproxy.strictUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...(await fixture.as('bystander')) }, body: JSON.stringify({ query: CHEAP_QUERY }) });
      expect(bystander.status).toBe(200);
    });
  });

  describe('a replica that leaves', () => {
    beforeEach(async () => {
      await fixture.serving();
    }, 60_000);

    it('drains on SIGTERM under load: /ready turns 503, HAProxy stops sending to it, and no request fails, without retries', async () => {
      const victim = fixture.replicas.gw1;
      const load = startLoad(fixture.haproxy.strictUrl, { concurrency: 20, as: fixture.as, callers: 'sigterm' });
      try {
        await waitFor(() => load.outcomes.filter((outcome) => outcome.servedBy === victim.name).length >= 20);

        // What a health check sees, on a new connection each time, from just before the signal until nothing listens.
        const readiness: number[] = [];
        const polling = (async () => {
          for (;;) {
            const status = await readyStatus(victim.origin);
            readiness.push(status);
            if (status === 0) return;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })();

        const signalledAt = performance.now();
        victim.process.child.kill('SIGTERM');
        await waitFor(async () => (await fixture.haproxy.status())[victim.name] !== 'UP');
        const outAt = performance.now();
        // Whether it still listened when HAProxy took it out: then the checks saw its 503, not a refused connection.
        const listenedWhenOut = !readiness.includes(0);
        const exitCode = await victim.process.exited;
        await polling;
        const exitedAt = performance.now();
        const sentAfterExit = () => load.outcomes.filter((outcome) => outcome.sentAt > exitedAt).length;
        await waitFor(() => sentAfterExit() >= 60);
        await load.stop();

        const failures = load.outcomes.filter((outcome) => outcome.failure !== undefined);
        const duringDrain = load.outcomes.filter((outcome) => outcome.servedBy === victim.name && outcome.sentAt > signalledAt);
        console.log(
          `load balancer, SIGTERM: ${load.outcomes.length} requests, ${failures.length} failed; ${duringDrain.length} served by ${victim.name} after its SIGTERM; out of HAProxy ${Math.round(outAt - signalledAt)} ms after it; served by ${JSON.stringify(countBy(load.outcomes))}`,
        );
        expect(failures.map((outcome) => outcome.failure)).toEqual([]);
        expect(listenedWhenOut).toBe(true);
        expect(exitCode).toBe(0);
        // Ready, then 503 while it drained, then nothing listening: never the listener gone while /ready said 200.
        const statuses = readiness.filter((status, index, all) => index === 0 || all[index - 1] !== status);
        expect(statuses).toEqual(statuses[0] === 200 ? [200, 503, 0] : [503, 0]);
        expect(load.outcomes.filter((outcome) => outcome.sentAt > outAt && outcome.servedBy === victim.name)).toEqual([]);
      } finally {
        await load.stop();
      }
    });

    it('costs only the requests in flight when a replica is killed, and the others serve the next ones', async () => {
      const victim = fixture.replicas.gw2;
      const load = startLoad(fixture.haproxy.redispatchingUrl, { concurrency: 20, as: fixture.as, callers: 'sigkill' });
      try {
        await waitFor(() => load.outcomes.filter((outcome) => outcome.servedBy === victim.name).length >= 20);
        const killedAt = performance.now();
        victim.process.kill();
        // A process dies some milliseconds after SIGKILL (the kernel frees its memory before it closes its sockets):
        // until then its kernel still accepts connections and requests for it. Those are in flight on it too.
        await victim.process.exited;
        const diedAt = performance.now();
        await waitFor(async () => (await fixture.haproxy.status())[victim.name] !== 'UP');
        const outAt = performance.now();
        const sentAfter = (at: number) => load.outcomes.filter((outcome) => outcome.sentAt > at);
        await waitFor(() => sentAfter(outAt).length >= 100);
        await load.stop();

        const failures = load.outcomes.filter((outcome) => outcome.failure !== undefined);
        const inFlight = load.outcomes.filter((outcome) => outcome.sentAt <= diedAt && outcome.doneAt >= killedAt);
        console.log(
          `load balancer, SIGKILL: ${load.outcomes.length} requests, ${failures.length} failed, of ${inFlight.length} in flight (over all replicas) between the signal and the death ${Math.round(diedAt - killedAt)} ms later; ` +
            `${sentAfter(diedAt).length - sentAfter(outAt).length} sent before HAProxy took it out ${Math.round(outAt - diedAt)} ms after, ${sentAfter(outAt).length} after, served by ${JSON.stringify(countBy(sentAfter(outAt)))}`,
        );
        // Only requests in flight on it failed: each was sent before it died and not answered before the signal, and
        // none has an answer of another replica's.
        expect(failures.filter((outcome) => !inFlight.includes(outcome) || (outcome.servedBy ?? victim.name) !== victim.name)).toEqual([]);
        // They all end at its death, when each of the 20 loops has one request outstanding at most.
        expect(failures.length).toBeLessThanOrEqual(20);
        // Once it was dead, every request was served: the connections HAProxy could not make to it were made to the
        // others (retry-on conn-failure), and once the check took it out only the others were asked.
        expect(sentAfter(diedAt).filter((outcome) => outcome.failure !== undefined)).toEqual([]);
        expect(new Set(sentAfter(outAt).map((outcome) => outcome.servedBy))).toEqual(new Set(REPLICAS.filter((name) => name !== victim.name)));
      } finally {
        await load.stop();
      }
    });
  });
});
