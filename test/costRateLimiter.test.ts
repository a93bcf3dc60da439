import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { redisServer, type RedisServer } from './redisServer.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../src/common/logger.js';
import { createCostRateLimiter, type CostRateLimiter, type CostRateLimiterOptions } from '../src/rateLimit/costRateLimiter.js';

const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';
const WARN = 40;
const INFO = 30;

/** A logger whose JSON lines land, parsed, in `lines`. */
function collectingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

/** Polls `check` until it holds; a deadline keeps a broken build from hanging the suite. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(25);
  }
}

/** A short-lived client for the test's own look at Redis; it never retries, so a stopped Redis fails it at once. */
async function withRedis<T>(port: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/**
 * Until its client is ready, a limiter answers from memory; tests about sharing must wait for that. Charges a probe
 * caller until the charge shows up in Redis itself.
 */
async function untilChargesReachRedis(limiter: CostRateLimiter, port: number, keyPrefix: string): Promise<void> {
  const probe = `probe-${randomUUID()}`;
  await withRedis(port, async (client) => {
    await until('the limiter charges through Redis', async () => {
      await limiter.consume(probe, 1);
      return (await client.exists(`${keyPrefix}:${probe}`)) === 1;
    });
  });
}

describe('a cost budget in one process', () => {
  const limiters: CostRateLimiter[] = [];
  const inMemory = (overrides: Partial<CostRateLimiterOptions> = {}): CostRateLimiter => {
    const limiter = createCostRateLimiter({ points: 10, windowSec: 1, logger: collectingLogger().logger, ...overrides });
    limiters.push(limiter);
    return limiter;
  };
  afterEach(async () => {
    await Promise.all(limiters.splice(0).map((limiter) => limiter.close()));
  });

  it('charges each operation its cost and refuses the one that would overspend the window', async () => {
    const limiter = inMemory();
    expect(await limiter.consume('alice', 4)).toEqual({ allowed: true, limit: 10, remaining: 6, resetSec: 1 });
    expect(await limiter.consume('alice', 4)).toEqual({ allowed: true, limit: 10, remaining: 2, resetSec: 1 });
    const refused = await limiter.consume('alice', 4);
    expect(refused).toMatchObject({ allowed: false, limit: 10, remaining: 0 });
    expect(refused.resetSec).toBeGreaterThanOrEqual(1);
  });

  it('restores the whole budget once the window has passed', async () => {
    const limiter = inMemory();
    expect(await limiter.consume('alice', 10)).toMatchObject({ allowed: true, remaining: 0 });
    expect(await limiter.consume('alice', 1)).toMatchObject({ allowed: false });
    await sleep(1_100);
    expect(await limiter.consume('alice', 4)).toMatchObject({ allowed: true, remaining: 6 });
  });

  it('keeps a separate budget for each caller', async () => {
    const limiter = inMemory();
    expect(await limiter.consume('alice', 10)).toMatchObject({ allowed: true, remaining: 0 });
    expect(await limiter.consume('bob', 4)).toMatchObject({ allowed: true, remaining: 6 });
    expect(await limiter.consume('alice', 1)).toMatchObject({ allowed: false, remaining: 0 });
  });

  it('refuses a charge larger than the whole budget without using up any of it', async () => {
    const limiter = inMemory();
    const refused = await limiter.consume('alice', 11);
    expect(refused).toMatchObject({ allowed: false, limit: 10, remaining: 0 });
    expect(refused.resetSec).toBeGreaterThanOrEqual(1);
    expect(await limiter.consume('alice', 10)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('lets a cost of 0 through without charging it, and rounds a fractional cost up', async () => {
    const limiter = inMemory({ windowSec: 60 });
    expect(await limiter.consume('alice', 0)).toEqual({ allowed: true, limit: 10, remaining: 10, resetSec: 60 });
    expect(await limiter.consume('alice', 2.1)).toMatchObject({ allowed: true, remaining: 7 });
    expect(await limiter.consume('alice', 0)).toMatchObject({ allowed: true, remaining: 7 });
  });

  it.each([-1, Number.NaN])('rejects a cost of %s as a programming error', async (cost) => {
    await expect(inMemory().consume('alice', cost)).rejects.toThrow(RangeError);
  });
});

describe('a cost budget shared through Redis', () => {
  const keyPrefix = `test:cost:${randomUUID()}`;
  const replica = () => createCostRateLimiter({ points: 10, windowSec: 30, redisUrl: SHARED_REDIS_URL, keyPrefix, logger: collectingLogger().logger });
  let first: CostRateLimiter;
  let second: CostRateLimiter;
  beforeAll(() => {
    first = replica();
    second = replica();
  });
  afterAll(async () => {
    await Promise.all([first.close(), second.close()]);
  });

  it('counts a charge made through one replica against the budget seen by another', async () => {
    await untilChargesReachRedis(first, 6379, keyPrefix);
    await untilChargesReachRedis(second, 6379, keyPrefix);
    expect(await first.consume('carol', 6)).toMatchObject({ allowed: true, remaining: 4 });
    expect(await second.consume('carol', 3)).toMatchObject({ allowed: true, remaining: 1 });
    expect(await first.consume('carol', 2)).toMatchObject({ allowed: false, remaining: 0 });
    expect(await second.consume('dave', 5)).toMatchObject({ allowed: true, remaining: 5 });
  });
});

describe('a cost budget whose Redis stops and comes back', () => {
  const servers: RedisServer[] = [];
  const limiters: CostRateLimiter[] = [];

  afterAll(async () => {
    await Promise.all(limiters.map((limiter) => limiter.close()));
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('keeps answering from memory while Redis is down, says so once, and shares the budget again when Redis is back', async () => {
    const redis = await redisServer();
    servers.push(redis);
    const { port } = redis;
    const keyPrefix = `test:cost:${randomUUID()}`;
    const { logger, lines } = collectingLogger();
    const options = { points: 10, windowSec: 30, redisUrl: `redis://127.0.0.1:${port}`, keyPrefix, logger };
    const warnings = () => lines.filter((line) => line.level === WARN);
    const backNotices = () => lines.filter((line) => line.level === INFO && /back/.test(String(line.msg)));

    await redis.start();
    const limiter = createCostRateLimiter(options);
    limiters.push(limiter);
    await untilChargesReachRedis(limiter, port, keyPrefix);
    expect(await limiter.consume('erin', 3)).toMatchObject({ allowed: true, remaining: 7 });
    expect(await withRedis(port, (client) => client.get(`${keyPrefix}:erin`))).toBe('3');
    expect(warnings()).toEqual([]);

    await redis.stop();
    await until('the outage is logged', () => warnings().length > 0);
    // The in-memory limiter starts from a fresh budget, and still refuses past it.
    expect(await limiter.consume('erin', 4)).toMatchObject({ allowed: true, remaining: 6 });
    expect(await limiter.consume('erin', 4)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await limiter.consume('erin', 4)).toMatchObject({ allowed: false, remaining: 0 });
    // Long enough for several failed reconnection attempts (after 100, 300 and 700 ms).
    await sleep(800);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ redis: `redis://127.0.0.1:${port}`, msg: expect.stringMatching(/unreachable/) });
    expect(backNotices()).toEqual([]);

    await redis.start();
    await until('the recovery is logged', () => backNotices().length > 0);
    // The restarted Redis is empty; memory still holds erin at over budget, so an allowed charge came from Redis.
    expect(await limiter.consume('erin', 4)).toMatchObject({ allowed: true, remaining: 6 });
    const otherReplica = createCostRateLimiter(options);
    limiters.push(otherReplica);
    await untilChargesReachRedis(otherReplica, port, keyPrefix);
    expect(await otherReplica.consume('erin', 4)).toMatchObject({ allowed: true, remaining: 2 });
    expect(warnings()).toHaveLength(1);
    expect(backNotices()).toHaveLength(1);
  });
});
