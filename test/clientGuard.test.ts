import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ANONYMOUS, type Principal } from '../src/auth/principal.js';
import { createClientGuard, type ClientGuard, type ClientGuardOptions } from '../src/clientBlocking/clientGuard.js';
import { readBlocks, unblock } from '../src/clientBlocking/blockList.js';
import { addressKey, clientKeyOf } from '../src/clientBlocking/clientIdentity.js';
import { DEFAULT_SIGNAL_WEIGHTS, SUSPICION_SIGNALS, signalOfError, signalOfErrors, signalOfRefusedRequest, type SuspicionSignal } from '../src/clientBlocking/signals.js';
import { createLogger, type Logger } from '../src/common/logger.js';
import { connectRedis, type SharedRedis } from '../src/common/redis.js';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { logCollector, productionEnv, waitFor } from './harness.js';
import { redisServer, type RedisLink, type RedisServer } from './redisServer.js';
import { clearOfWindowEdge, TEST_WINDOW_SEC } from './scoreWindow.js';

const user = (subject: string): Principal => ({ kind: 'user', subject, roles: [], scopes: [] });

function collectingLogger() {
  const lines: Record<string, unknown>[] = [];
  return { logger: createLogger({ level: 'info', destination: logCollector(lines) }), lines };
}

function options(overrides: Partial<ClientGuardOptions> = {}): ClientGuardOptions {
  return {
    mode: 'enforce',
    threshold: 100,
    decayWindowSec: 60,
    cooldownsSec: [60, 600, 3_600],
    repeatMemorySec: 86_400,
    weights: DEFAULT_SIGNAL_WEIGHTS,
    allowlist: { cidrs: [], subjects: [] },
    keyPrefix: `test-${randomUUID()}`,
    logger: collectingLogger().logger,
    ...overrides,
  };
}

/** Sends `count` signals of one kind from one client and says after which one (1-based) it was blocked, if any. */
async function blockedAfter(guard: ClientGuard, principal: Principal, ip: string, signal: SuspicionSignal, count: number): Promise<number | undefined> {
  for (let sent = 1; sent <= count; sent += 1) {
    await guard.note(principal, ip, signal);
    if (guard.blocked(principal, ip) !== undefined) return sent;
  }
  return undefined;
}

const remainingSec = (guard: ClientGuard, principal: Principal, ip: string) => Math.round(((guard.blocked(principal, ip)?.untilMs ?? Date.now()) - Date.now()) / 1000);

describe('what an error says about its client', () => {
  it.each([
    [{ code: 'UNAUTHENTICATED' }, false, 'credentials'],
    [{ code: 'FORBIDDEN' }, true, 'forbidden'],
    [{ code: 'FORBIDDEN' }, false, 'forbidden'],
    [{ code: 'RATE_LIMITED' }, false, 'rateLimited'],
    [{ code: 'PERSISTED_QUERY_NOT_IN_LIST' }, false, 'untrusted'],
    [{ code: 'PAYLOAD_TOO_LARGE' }, false, 'limit'],
    [{ code: 'GRAPHQL_PARSE_FAILED' }, false, 'invalid'],
    [{ code: 'GRAPHQL_VALIDATION_FAILED' }, false, 'invalid'],
    [{ code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'INTROSPECTION_DISABLED' }, false, 'invalid'],
    [{ code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_DEPTH_EXCEEDED' }, false, 'limit'],
    [{ code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'ALIAS_SHADOWS_FIELD' }, false, 'limit'],
    [{ code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_SELECTION_PAIRS_EXCEEDED' }, false, 'limit'],
    [{ code: 'BAD_USER_INPUT' }, false, 'invalid'],
    [{ code: 'BAD_USER_INPUT' }, true, undefined],
    [{ code: 'SERVICE_UNAVAILABLE' }, true, undefined],
    [{ code: 'INTERNAL_SERVER_ERROR' }, false, undefined],
    [{ code: 'PERSISTED_QUERY_NOT_FOUND' }, false, undefined],
    // Counted from the answer instead (signalOfRefusedRequest): never twice.
    [{ code: 'BAD_REQUEST' }, false, undefined],
    [{ code: 'PERSISTED_QUERY_HASH_MISMATCH' }, false, undefined],
    [undefined, false, undefined],
  ] as const)('%j (path: %s) is %s', (extensions, hasPath, signal) => {
    expect(signalOfError(extensions, hasPath)).toBe(signal);
  });

  it.each([
    [['BAD_REQUEST'], 'invalid'],
    [['PERSISTED_QUERY_HASH_MISMATCH'], 'invalid'],
    [['GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST'], 'invalid'],
    [['GRAPHQL_VALIDATION_FAILED'], undefined],
    [['PERSISTED_QUERY_NOT_FOUND'], undefined],
    [['PERSISTED_QUERY_NOT_SUPPORTED'], undefined],
    [[], undefined],
  ] as const)('an answer refused with %j is %s', (codes, signal) => {
    expect(signalOfRefusedRequest(codes)).toBe(signal);
  });

  it('counts a request once, as the heaviest thing it did', () => {
    const errors = [{ extensions: { code: 'FORBIDDEN' }, path: ['a'] }, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_COST_EXCEEDED' } }, { extensions: { code: 'FORBIDDEN' }, path: ['b'] }];
    expect(signalOfErrors(errors, DEFAULT_SIGNAL_WEIGHTS)).toBe('limit');
    expect(signalOfErrors([{ extensions: { code: 'SERVICE_UNAVAILABLE' }, path: ['a'] }], DEFAULT_SIGNAL_WEIGHTS)).toBeUndefined();
  });
});

describe('the client a score belongs to', () => {
  it('is the verified subject, else the address', () => {
    expect(clientKeyOf(user('ada'), '10.0.0.1')).toBe('sub:ada');
    expect(clientKeyOf(ANONYMOUS, '10.0.0.1')).toBe('ip:10.0.0.1');
  });

  it.each([
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::7', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1:2:3:4', 'fe80:0:0:0::/64'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['192.0.2.1', '192.0.2.1'],
  ])('keys the address %s as %s (an IPv6 host holds a /64)', (address, key) => {
    expect(addressKey(address)).toBe(key);
    expect(clientKeyOf(ANONYMOUS, address)).toBe(`ip:${key}`);
  });
});

describe('suspicion scores in one process', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    vi.setSystemTime(new Date('2026-12-01T12:00:00.000Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  // With the default weights and threshold (100): how many requests of one kind in a row block their client.
  it.each(SUSPICION_SIGNALS.map((signal) => [signal, Math.ceil(100 / DEFAULT_SIGNAL_WEIGHTS[signal])] as const))('blocks after %s × %i, not one before, and never for one', async (signal, count) => {
    const guard = await createClientGuard(options());
    expect(await blockedAfter(guard, ANONYMOUS, '203.0.113.7', signal, count + 5)).toBe(count);
    expect(guard.blocked(ANONYMOUS, '203.0.113.7')).toMatchObject({ client: 'ip:203.0.113.7', reason: signal, strikes: 1 });
    expect(remainingSec(guard, ANONYMOUS, '203.0.113.7')).toBe(60);
    // One request of the heaviest kind, from a client with nothing against it: never a block.
    await guard.note(ANONYMOUS, '203.0.113.6', signal);
    expect(guard.blocked(ANONYMOUS, '203.0.113.6')).toBeUndefined();
    await guard.close();
  });

  it('never blocks for one mistake, nor for mistakes spread out over time', async () => {
    const guard = await createClientGuard(options());
    // 8 unknown fields a minute (80 points in each window) for ten minutes: the score stays below 100.
    for (let minute = 0; minute < 10; minute += 1) {
      for (let request = 0; request < 8; request += 1) {
        await guard.note(ANONYMOUS, '203.0.113.8', 'invalid');
        vi.advanceTimersByTime(7_500);
      }
    }
    expect(guard.blocked(ANONYMOUS, '203.0.113.8')).toBeUndefined();
    await guard.close();
  });

  it.each(['credentials', 'forbidden', 'invalid', 'untrusted'] as const)('counts the same %s sent again once per window, and anew after it', async (signal) => {
    const guard = await createClientGuard(options());
    // Two clients send the same thing fifty times; a window and a half later, only the first sends it again.
    for (const ip of ['203.0.113.11', '203.0.113.14']) {
      for (let request = 0; request < 50; request += 1) await guard.note(ANONYMOUS, ip, signal, 'the same document');
      expect(guard.blocked(ANONYMOUS, ip)).toBeUndefined();
    }
    vi.advanceTimersByTime(90_000);
    for (let request = 0; request < 50; request += 1) await guard.note(ANONYMOUS, '203.0.113.11', signal, 'the same document');
    expect(guard.blocked(ANONYMOUS, '203.0.113.11')).toBeUndefined();
    // Then both probe (something else each time): the repeat counted anew takes one probe off the first one's way.
    const again = await blockedAfter(guard, ANONYMOUS, '203.0.113.11', signal, 50);
    const once = await blockedAfter(guard, ANONYMOUS, '203.0.113.14', signal, 50);
    expect(once).toBeDefined();
    expect(again).toBe(once! - 1);
    // A client that probes from the start.
    expect(await blockedAfter(guard, ANONYMOUS, '203.0.113.12', signal, 50)).toBe(Math.ceil(100 / DEFAULT_SIGNAL_WEIGHTS[signal]));
    await guard.close();
  });

  it.each(['limit', 'rateLimited'] as const)('counts every %s, the same one again included', async (signal) => {
    const guard = await createClientGuard(options());
    let sent = 0;
    while (guard.blocked(ANONYMOUS, '203.0.113.13') === undefined && sent < 50) {
      await guard.note(ANONYMOUS, '203.0.113.13', signal, 'the same bomb');
      sent += 1;
    }
    expect(sent).toBe(Math.ceil(100 / DEFAULT_SIGNAL_WEIGHTS[signal]));
    await guard.close();
  });

  it('lets a score fade: half a window on it weighs half, two windows on nothing', async () => {
    const guard = await createClientGuard(options());
    for (const ip of ['203.0.113.9', '203.0.113.15']) for (let request = 0; request < 9; request += 1) await guard.note(ANONYMOUS, ip, 'invalid');
    // 90 points each. Half way into the next window the first one weighs half (45): six more block, where a fixed
    // window would take ten (it forgets at the edge) and a score that never fades one.
    vi.advanceTimersByTime(90_000);
    expect(await blockedAfter(guard, ANONYMOUS, '203.0.113.9', 'invalid', 20)).toBe(6);
    // Two windows after the first: it has faded out, and the full ten are needed again.
    vi.advanceTimersByTime(30_000);
    expect(await blockedAfter(guard, ANONYMOUS, '203.0.113.15', 'invalid', 20)).toBe(10);
    await guard.close();
  });

  it('still counts the previous window across its boundary (a sliding window, not a fixed one)', async () => {
    const guard = await createClientGuard(options());
    vi.advanceTimersByTime(59_000);
    for (let request = 0; request < 9; request += 1) await guard.note(ANONYMOUS, '203.0.113.10', 'invalid');
    vi.advanceTimersByTime(2_000);
    // 90 points a second before the boundary, a second after it: 10 + 90 × 59/60 < 100, then 20 + 88.5 ≥ 100.
    expect(await blockedAfter(guard, ANONYMOUS, '203.0.113.10', 'invalid', 10)).toBe(2);
    await guard.close();
  });

  it('grows the cooldown on each block within the repeat memory, then keeps the longest', async () => {
    const guard = await createClientGuard(options());
    const cooldowns: number[] = [];
    for (let block = 0; block < 4; block += 1) {
      expect(await blockedAfter(guard, ANONYMOUS, '198.51.100.1', 'limit', 5)).toBe(5);
      cooldowns.push(remainingSec(guard, ANONYMOUS, '198.51.100.1'));
      vi.advanceTimersByTime(cooldowns.at(-1)! * 1000 + 1000);
      expect(guard.blocked(ANONYMOUS, '198.51.100.1')).toBeUndefined();
    }
    expect(cooldowns).toEqual([60, 600, 3_600, 3_600]);
    await guard.close();
  });

  it('starts a client afresh after its cooldown: its old signals do not count again', async () => {
    const guard = await createClientGuard(options({ decayWindowSec: 600 }));
    expect(await blockedAfter(guard, ANONYMOUS, '198.51.100.2', 'invalid', 10)).toBe(10);
    vi.advanceTimersByTime(61_000);
    await guard.note(ANONYMOUS, '198.51.100.2', 'invalid');
    expect(guard.blocked(ANONYMOUS, '198.51.100.2')).toBeUndefined();
    await guard.close();
  });

  it('charges forged tokens naming a victim to the address that sent them, never to the victim', async () => {
    const guard = await createClientGuard(options());
    // The gateway never verified them: the sender is anonymous at its address.
    expect(await blockedAfter(guard, ANONYMOUS, '192.0.2.66', 'credentials', 10)).toBe(10);
    expect(guard.blocked(user('victim'), '192.0.2.66')).toBeUndefined();
    expect(guard.blocked(user('victim'), '192.0.2.10')).toBeUndefined();
    expect(guard.blocked(ANONYMOUS, '192.0.2.67')).toBeUndefined();
    await guard.close();
  });

  it('blocks an IPv6 prober by its /64, whichever of its addresses it comes from next', async () => {
    const guard = await createClientGuard(options());
    for (let request = 0; request < 10; request += 1) await guard.note(ANONYMOUS, `2001:db8:5:6::${request.toString(16)}`, 'invalid');
    expect(guard.blocked(ANONYMOUS, '2001:db8:5:6:ffff:1:2:3')).toBeDefined();
    expect(guard.blocked(ANONYMOUS, '2001:db8:5:7::1')).toBeUndefined();
    await guard.close();
  });

  it('blocks a verified subject wherever it comes from, and not the others at its address', async () => {
    const guard = await createClientGuard(options());
    expect(await blockedAfter(guard, user('mallory'), '192.0.2.1', 'invalid', 10)).toBe(10);
    expect(guard.blocked(user('mallory'), '192.0.2.99')).toBeDefined();
    expect(guard.blocked(user('ada'), '192.0.2.1')).toBeUndefined();
    expect(guard.blocked(ANONYMOUS, '192.0.2.1')).toBeUndefined();
    await guard.close();
  });

  it.each([
    ['an address in a listed range', { cidrs: ['10.0.0.0/8'], subjects: [] }, ANONYMOUS, '10.1.2.3'],
    ['a listed address', { cidrs: ['10.1.2.3'], subjects: [] }, ANONYMOUS, '10.1.2.3'],
    ['a listed subject', { cidrs: [], subjects: ['monitor'] }, user('monitor'), '192.0.2.5'],
    ['a user at a listed address', { cidrs: ['10.0.0.0/8'], subjects: [] }, user('ada'), '10.9.9.9'],
  ])('never scores or blocks %s', async (_name, allowlist, principal, ip) => {
    const guard = await createClientGuard(options({ allowlist }));
    expect(await blockedAfter(guard, principal, ip, 'limit', 50)).toBeUndefined();
    await guard.close();
  });

  it('does not let a forged token escape an allowlist check: an unverified subject is not a listed subject', async () => {
    const guard = await createClientGuard(options({ allowlist: { cidrs: [], subjects: ['monitor'] } }));
    // A forged "monitor" token is an anonymous request at its address.
    expect(await blockedAfter(guard, ANONYMOUS, '192.0.2.77', 'credentials', 10)).toBe(10);
    await guard.close();
  });

  it('only logs, in audit mode, the block it would make, with the score and its makeup', async () => {
    const { logger, lines } = collectingLogger();
    const guard = await createClientGuard(options({ mode: 'audit', logger }));
    expect(await blockedAfter(guard, ANONYMOUS, '198.51.100.3', 'invalid', 30)).toBeUndefined();
    const audits = lines.filter((line) => line['msg'] === 'a client would be blocked (CLIENT_BLOCKING=audit)');
    expect(audits).toHaveLength(3);
    expect(audits[0]).toMatchObject({ client: 'ip:198.51.100.3', reason: 'invalid', score: 100, threshold: 100, signals: { invalid: 10 }, cooldownSec: 60 });
    await guard.close();
  });

  it('logs each block once with its reason, score, makeup and cooldown, and tells the metrics', async () => {
    const { logger, lines } = collectingLogger();
    const reasons: string[] = [];
    const guard = await createClientGuard(options({ logger, onBlock: (reason) => reasons.push(reason) }));
    for (let request = 0; request < 2; request += 1) await guard.note(ANONYMOUS, '198.51.100.4', 'credentials');
    expect(await blockedAfter(guard, ANONYMOUS, '198.51.100.4', 'limit', 10)).toBe(4);
    const blocks = lines.filter((line) => line['msg'] === 'a client is blocked');
    expect(blocks).toEqual([expect.objectContaining({ level: 40, client: 'ip:198.51.100.4', reason: 'limit', score: 100, threshold: 100, signals: { credentials: 2, limit: 4 }, strikes: 1, cooldownSec: 60 })]);
    expect(reasons).toEqual(['limit']);
    expect(guard.blockedCount()).toBe(1);
    await guard.close();
  });

  it('makes one block of signals that arrive together', async () => {
    const reasons: string[] = [];
    const guard = await createClientGuard(options({ onBlock: (reason) => reasons.push(reason) }));
    await Promise.all(Array.from({ length: 30 }, () => guard.note(ANONYMOUS, '198.51.100.5', 'invalid')));
    expect(reasons).toEqual(['invalid']);
    expect(remainingSec(guard, ANONYMOUS, '198.51.100.5')).toBe(60);
    await guard.close();
  });
});

describe('client blocking settings', () => {
  it.each([
    [{ CLIENT_BLOCKING: 'off' }, 'CLIENT_BLOCKING=off in production lets a client probe'],
    [{ CLIENT_BLOCKING: 'audit' }, 'CLIENT_BLOCKING=audit in production only logs'],
  ])('refuses %j in production unless said on purpose', async (env, message) => {
    const production = await productionEnv();
    expect(() => loadConfig({ ...production, ...env })).toThrow(message);
    expect(loadConfig({ ...production, ...env, CLIENT_BLOCKING_OFF_IN_PRODUCTION: 'true' }).clientBlocking.mode).toBe(env.CLIENT_BLOCKING);
  });

  // Blocking that is on and blocks nobody is refused in production as `off` is, and for the same override.
  const NO_WEIGHTS = { credentials: 0, forbidden: 0, invalid: 0, limit: 0, untrusted: 0, rateLimited: 0 };
  it.each([
    ['every weight 0', {}, { weights: NO_WEIGHTS }, 'config clientBlocking.weights are all 0 in production, so no request counts and no client is ever blocked: give the signals weights (the defaults: credentials 10,'],
    ['a threshold of 1001 limit refusals', { CLIENT_BLOCKING_THRESHOLD: '20020' }, {}, 'CLIENT_BLOCKING_THRESHOLD (20020) in production takes 1001 requests of the heaviest signal (limit, weight 20) within one window to block a client, which no prober needs to send: set at most 20000'],
    ['a threshold beyond the one weighted signal', {}, { threshold: 5_001, weights: { ...NO_WEIGHTS, forbidden: 5 } }, 'config clientBlocking.threshold (5001) in production takes 1001 requests of the heaviest signal (forbidden, weight 5) within one window to block a client'],
    ['a 9 s window', { CLIENT_BLOCKING_WINDOW_SEC: '9' }, {}, 'CLIENT_BLOCKING_WINDOW_SEC (9) in production forgets a client\'s signals within seconds, so a prober that paces itself is never blocked: set at least 10 (the default is 60)'],
    ['a 9 s cooldown', { CLIENT_BLOCKING_COOLDOWNS_SEC: '9,600' }, {}, 'CLIENT_BLOCKING_COOLDOWNS_SEC (9,600) in production blocks for 9 s, which a prober hardly notices: list cooldowns of at least 10 s (the default is 60,600,3600)'],
    ['a 5 s cooldown on repeat', {}, { cooldownsSec: [60, 5] }, 'config clientBlocking.cooldownsSec (60,5) in production blocks for 5 s'],
  ])('refuses %s in production unless said on purpose, and takes it in development', async (_case, env, clientBlocking, message) => {
    const production = await productionEnv();
    const module = { clientBlocking };
    const refused = (() => {
      try {
        loadConfig({ ...production, ...env }, { module });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).problems).toEqual([expect.stringContaining(message)]);
    expect((refused as ConfigError).problems[0]).toMatch(/, or CLIENT_BLOCKING_OFF_IN_PRODUCTION=true \(CLIENT_BLOCKING_OFF_IN_PRODUCTION\) to run so on purpose$/);
    expect(loadConfig({ ...production, ...env, CLIENT_BLOCKING_OFF_IN_PRODUCTION: 'true' }, { module }).clientBlocking.mode).toBe('enforce');
    expect(loadConfig({ ...env, CLIENT_BLOCKING: 'enforce' }, { module }).clientBlocking.mode).toBe('enforce');
  });

  it.each([
    ['the defaults', {}, {}],
    ['1000 limit refusals to block', { CLIENT_BLOCKING_THRESHOLD: '20000' }, {}],
    ['a 10 s window and cooldown', { CLIENT_BLOCKING_WINDOW_SEC: '10', CLIENT_BLOCKING_COOLDOWNS_SEC: '10' }, {}],
    ['one weighted signal', {}, { weights: { ...NO_WEIGHTS, credentials: 10 } }],
    ['an allowlist of ranges', { CLIENT_BLOCKING_ALLOW_CIDRS: '10.0.0.0/8,192.168.0.0/16,fd00::/8' }, {}],
  ])('takes %s in production', async (_case, env, clientBlocking) => {
    expect(loadConfig({ ...(await productionEnv()), ...env }, { module: { clientBlocking } }).clientBlocking.mode).toBe('enforce');
  });

  it('enforces in production and is off in development by default', async () => {
    expect(loadConfig(await productionEnv()).clientBlocking.mode).toBe('enforce');
    expect(loadConfig({}).clientBlocking.mode).toBe('off');
  });

  it('reads the environment into the settings', () => {
    const { clientBlocking } = loadConfig({ CLIENT_BLOCKING: 'enforce', CLIENT_BLOCKING_THRESHOLD: '50', CLIENT_BLOCKING_WINDOW_SEC: '30', CLIENT_BLOCKING_COOLDOWNS_SEC: '5,50', CLIENT_BLOCKING_ALLOW_CIDRS: '10.0.0.0/8, ::1', CLIENT_BLOCKING_ALLOW_SUBJECTS: 'monitor' });
    expect(clientBlocking).toMatchObject({ mode: 'enforce', threshold: 50, decayWindowSec: 30, cooldownsSec: [5, 50], allowlist: { cidrs: ['10.0.0.0/8', '::1'], subjects: ['monitor'] } });
  });

  it.each([
    [{ CLIENT_BLOCKING_THRESHOLD: '20' }, 'config clientBlocking.weights.limit (20) must be below CLIENT_BLOCKING_THRESHOLD (20): one such request would block its client'],
    [{ CLIENT_BLOCKING_ALLOW_CIDRS: '10.0.0.0/99' }, 'CLIENT_BLOCKING_ALLOW_CIDRS must list addresses or CIDR ranges'],
    // An allowlist of every address would exempt every anonymous client: proxy-addr takes no /0 range.
    [{ CLIENT_BLOCKING_ALLOW_CIDRS: '10.0.0.0/8,0.0.0.0/0' }, 'CLIENT_BLOCKING_ALLOW_CIDRS must list addresses or CIDR ranges, e.g. 10.0.0.0/8: invalid range on address: 0.0.0.0/0'],
    [{ CLIENT_BLOCKING_ALLOW_CIDRS: '::/0' }, 'CLIENT_BLOCKING_ALLOW_CIDRS must list addresses or CIDR ranges, e.g. 10.0.0.0/8: invalid range on address: ::/0'],
    [{ CLIENT_BLOCKING_COOLDOWNS_SEC: '60,ten' }, 'CLIENT_BLOCKING_COOLDOWNS_SEC must list whole numbers, e.g. 60,600,3600'],
    [{ CLIENT_BLOCKING: 'block' }, 'CLIENT_BLOCKING must be off, audit or enforce'],
  ])('refuses %j, saying why', (env, message) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(message);
  });
});

describe('blocks shared through Redis', () => {
  let redis: RedisServer;
  const opened: { guard: ClientGuard; redis: SharedRedis }[] = [];
  const links: RedisLink[] = [];

  /** A replica on its own connections to Redis (through `url`, a link the test may cut, when given). */
  const replica = async (keyPrefix: string, { logger = collectingLogger().logger, onBlock, url = redis.url }: { logger?: Logger; onBlock?: (reason: SuspicionSignal) => void; url?: string } = {}) => {
    const shared = connectRedis(url, logger, { onDown: 'Redis is unreachable; blocks are local', onUp: 'Redis is back; blocks are shared' });
    // An hour's window, started clear of its edge (beforeEach): exactly threshold / weight signals sent in real time
    // must add up to the threshold.
    const guard = await createClientGuard(options({ keyPrefix, redis: shared, logger, decayWindowSec: TEST_WINDOW_SEC, cooldownsSec: [30, 300], ...(onBlock ? { onBlock } : {}) }));
    opened.push({ guard, redis: shared });
    await waitFor(() => shared.client.status === 'ready');
    return guard;
  };

  beforeAll(async () => {
    redis = await redisServer();
    await redis.start();
  });
  beforeEach(() => clearOfWindowEdge());
  afterAll(async () => {
    for (const { guard, redis: shared } of opened) {
      await guard.close();
      await shared.close();
    }
    for (const link of links) await link.close();
    await redis?.stop();
  });

  it('blocks a client on every replica once one of them blocked it, and one score counts what each replica saw', async () => {
    const keyPrefix = `test-${randomUUID()}`;
    const [a, b, c] = [await replica(keyPrefix), await replica(keyPrefix), await replica(keyPrefix)];
    // Ten unknown fields spread over three replicas: one score of 100.
    for (let request = 0; request < 9; request += 1) await [a, b, c][request % 3]!.note(ANONYMOUS, '203.0.113.50', 'invalid');
    expect([a, b, c].map((guard) => guard.blocked(ANONYMOUS, '203.0.113.50'))).toEqual([undefined, undefined, undefined]);
    await c.note(ANONYMOUS, '203.0.113.50', 'invalid');
    expect(c.blocked(ANONYMOUS, '203.0.113.50')).toBeDefined();
    await waitFor(() => a.blocked(ANONYMOUS, '203.0.113.50') !== undefined && b.blocked(ANONYMOUS, '203.0.113.50') !== undefined);
    expect(a.blocked(ANONYMOUS, '203.0.113.51')).toBeUndefined();
  });

  it('makes one block, a first one, when two replicas count the crossing signal at once', async () => {
    const keyPrefix = `test-${randomUUID()}`;
    const blocks: string[] = [];
    const [a, b] = [await replica(keyPrefix, { onBlock: (reason) => blocks.push(`a:${reason}`) }), await replica(keyPrefix, { onBlock: (reason) => blocks.push(`b:${reason}`) })];
    for (let request = 0; request < 9; request += 1) await a.note(ANONYMOUS, '203.0.113.55', 'invalid');
    await Promise.all([a.note(ANONYMOUS, '203.0.113.55', 'invalid'), b.note(ANONYMOUS, '203.0.113.55', 'rateLimited'), b.note(ANONYMOUS, '203.0.113.55', 'invalid')]);
    expect(blocks).toHaveLength(1);
    await waitFor(() => a.blocked(ANONYMOUS, '203.0.113.55') !== undefined && b.blocked(ANONYMOUS, '203.0.113.55') !== undefined);
    expect(a.blocked(ANONYMOUS, '203.0.113.55')?.strikes).toBe(1);
    expect(remainingSec(b, ANONYMOUS, '203.0.113.55')).toBe(30);
  });

  it('lists blocks for operators and lifts one on every replica', async () => {
    const keyPrefix = `test-${randomUUID()}`;
    const [a, b] = [await replica(keyPrefix), await replica(keyPrefix)];
    expect(await blockedAfter(a, user('mallory'), '192.0.2.1', 'limit', 5)).toBe(5);
    await waitFor(() => b.blocked(user('mallory'), '192.0.2.1') !== undefined);
    const client = new Redis(redis.url);
    try {
      const blocks = await readBlocks(client, keyPrefix);
      expect(blocks).toEqual([{ client: 'sub:mallory', untilMs: expect.any(Number), reason: 'limit', strikes: 1 }]);
      expect(blocks[0]!.untilMs - Date.now()).toBeGreaterThan(25_000);
      expect(await unblock(client, keyPrefix, 'sub:mallory', TEST_WINDOW_SEC)).toBe(true);
      await waitFor(() => a.blocked(user('mallory'), '192.0.2.1') === undefined && b.blocked(user('mallory'), '192.0.2.1') === undefined);
      expect(await readBlocks(client, keyPrefix)).toEqual([]);
      expect(await unblock(client, keyPrefix, 'sub:mallory', TEST_WINDOW_SEC)).toBe(false);
      // Its strikes were forgotten: the next block is a first one again.
      expect(await blockedAfter(a, user('mallory'), '192.0.2.1', 'limit', 5)).toBe(5);
      expect(remainingSec(a, user('mallory'), '192.0.2.1')).toBe(30);
    } finally {
      client.disconnect();
    }
  });

  it('learns, once connected, the blocks made while it was not', async () => {
    const keyPrefix = `test-${randomUUID()}`;
    const a = await replica(keyPrefix);
    expect(await blockedAfter(a, ANONYMOUS, '203.0.113.60', 'limit', 5)).toBe(5);
    const late = await replica(keyPrefix);
    await waitFor(() => late.blocked(ANONYMOUS, '203.0.113.60') !== undefined);
  });

  it('drops, once back, a block lifted while it was cut off from Redis, and keeps the one it made alone meanwhile', async () => {
    const keyPrefix = `test-${randomUUID()}`;
    const link = await redis.link();
    links.push(link);
    const a = await replica(keyPrefix);
    const b = await replica(keyPrefix, { url: link.url });
    const bRedis = opened.at(-1)!.redis;
    expect(await blockedAfter(a, user('lifted'), '192.0.2.1', 'limit', 5)).toBe(5);
    await waitFor(() => b.blocked(user('lifted'), '192.0.2.1') !== undefined);

    link.cut();
    await waitFor(() => !bRedis.ready());
    // Alone, b blocks a client of its own: Redis never hears of it.
    expect(await blockedAfter(b, user('alone'), '192.0.2.2', 'limit', 5)).toBe(5);
    const operator = new Redis(redis.url);
    try {
      expect(await unblock(operator, keyPrefix, 'sub:lifted', TEST_WINDOW_SEC)).toBe(true);
    } finally {
      operator.disconnect();
    }
    await waitFor(() => a.blocked(user('lifted'), '192.0.2.1') === undefined);
    await sleep(300);
    // b was not listening: it still blocks the client, as it would until the cooldown's end without a resync.
    expect(b.blocked(user('lifted'), '192.0.2.1')).toBeDefined();

    link.restore();
    await waitFor(() => b.blocked(user('lifted'), '192.0.2.1') === undefined, 10_000);
    expect(bRedis.ready()).toBe(true);
    expect(b.blocked(user('alone'), '192.0.2.2')).toMatchObject({ client: 'sub:alone', reason: 'limit' });
    expect(a.blocked(user('alone'), '192.0.2.2')).toBeUndefined();
  });

  it('keeps, when Redis comes back empty, the blocks it had from it: nothing says they were lifted', async () => {
    const keyPrefix = `test-${randomUUID()}`;
    const a = await replica(keyPrefix);
    const b = await replica(keyPrefix);
    expect(await blockedAfter(a, user('kept'), '192.0.2.3', 'limit', 5)).toBe(5);
    await waitFor(() => b.blocked(user('kept'), '192.0.2.3') !== undefined);
    // A restart without persistence: the private redis-server comes back with nothing.
    await redis.stop();
    await redis.start();
    await waitFor(() => opened.every(({ redis: shared }) => shared.ready()), 10_000);
    // Both have read Redis again by now: a block announced now reaches them, and the resync ran before it.
    expect(await blockedAfter(a, user('later'), '192.0.2.4', 'limit', 5)).toBe(5);
    await waitFor(() => b.blocked(user('later'), '192.0.2.4') !== undefined, 10_000);
    expect(b.blocked(user('kept'), '192.0.2.3')).toMatchObject({ client: 'sub:kept', reason: 'limit' });
    expect(a.blocked(user('kept'), '192.0.2.3')).toMatchObject({ client: 'sub:kept', reason: 'limit' });
  });

  it('keeps blocking in each process while Redis is down, says so once, and shares blocks again once it is back', async () => {
    const keyPrefix = `test-${randomUUID()}`;
    const { logger, lines } = collectingLogger();
    const [a, b] = [await replica(keyPrefix, { logger }), await replica(keyPrefix)];
    await redis.stop();
    expect(await blockedAfter(a, ANONYMOUS, '203.0.113.70', 'limit', 5)).toBe(5);
    // Each replica counts alone now: b learns nothing of a's block, nor of a's signals, and blocks the client on its
    // own five (one would do, were a's counted).
    await sleep(300);
    expect(await blockedAfter(b, ANONYMOUS, '203.0.113.70', 'limit', 10)).toBe(5);
    expect(lines.filter((line) => line['msg'] === 'Redis is unreachable; blocks are local')).toHaveLength(1);
    await redis.start();
    await waitFor(() => lines.some((line) => line['msg'] === 'Redis is back; blocks are shared'), 10_000);
    await waitFor(() => opened.every(({ redis: shared }) => shared.client.status === 'ready'), 10_000);
    expect(await blockedAfter(a, ANONYMOUS, '203.0.113.71', 'limit', 5)).toBe(5);
    await waitFor(() => b.blocked(ANONYMOUS, '203.0.113.71') !== undefined, 10_000);
  });
});
