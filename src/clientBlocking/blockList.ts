import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Logger } from '../common/logger.js';
import type { SharedRedis } from '../common/redis.js';

/** What is known of a block: until when, why, and how many blocks the client has had recently (this one included). */
export interface Block {
  client: string;
  untilMs: number;
  reason: string;
  strikes: number;
}

/** A block as a message between replicas: the time left rather than a deadline, so that clocks need not agree. */
type BlockMessage = { op: 'block'; client: string; ms: number; reason: string; strikes: number } | { op: 'unblock'; client: string };

/** Where the blocks of one deployment live in Redis: `<prefix>:blocks:<client>` (rate-limiter-flexible's), details beside. */
export function blockKeys(keyPrefix: string) {
  return {
    blocks: `${keyPrefix}:blocks`,
    details: `${keyPrefix}:blockinfo`,
    strikes: `${keyPrefix}:strikes`,
    scores: `${keyPrefix}:suspicion`,
    channel: `${keyPrefix}:blocks`,
    /** Each `gateway blocks unblock`, remembered for a day: what tells a lifted block from one Redis lost. */
    lifted: `${keyPrefix}:unblocked`,
  };
}

/** How long an unblock is remembered: longer than any replica holds a block it had from Redis (a cooldown). */
const UNBLOCK_MEMORY_SEC = 24 * 60 * 60;

export interface BlockListOptions {
  /** Shares the blocks with every replica; absent, this process keeps its own. */
  redis?: SharedRedis | undefined;
  keyPrefix: string;
  logger: Logger;
}

/**
 * The clients blocked now, as every replica sees them. Each replica holds the list in memory, so that deciding whether
 * a request's client is blocked costs no round trip: it is a map lookup, before anything of the request is parsed.
 * Redis holds the truth (rate-limiter-flexible's `block`, a key that expires with the cooldown) and carries each
 * block and unblock to the other replicas at once (pub/sub); a replica that (re)connects reads every block Redis
 * holds, and drops those it had from Redis that an operator lifted while it was not listening. While
 * Redis is away, a replica keeps blocking what it decides itself (rate-limiter-flexible's insurance limiter); the
 * others learn of those blocks only if they are still on when Redis is back and asked again.
 */
export interface BlockList {
  /** The block on `client` now, if any. */
  get(client: string): Block | undefined;
  /** True when no client is blocked (nor any block kept past its end): most of the time, and then nothing is looked up. */
  empty(): boolean;
  /** Blocks `client` for `seconds` here and, through Redis, on every replica. */
  add(block: Omit<Block, 'untilMs'>, seconds: number): Promise<void>;
  /** The clients blocked now. */
  list(): Block[];
  size(): number;
  close(): Promise<void>;
}

/** A block as this replica holds it. */
interface Held {
  block: Block;
  /**
   * Whether Redis had it when this replica learned of it (read, announced, or written there by this replica), rather
   * than this replica alone deciding it while Redis was away.
   */
  fromRedis: boolean;
  /** When, in the order of what this replica learned: a resync judges only what it knew before it read. */
  learned: number;
}

export async function createBlockList(options: BlockListOptions): Promise<BlockList> {
  const keys = blockKeys(options.keyPrefix);
  const local = new Map<string, Held>();
  let learned = 0;
  const hold = (block: Block, fromRedis: boolean): Held => {
    const entry = { block, fromRedis, learned: (learned += 1) };
    local.set(block.client, entry);
    return entry;
  };
  const memory = new RateLimiterMemory({ points: 1, duration: 1, keyPrefix: keys.blocks });
  const limiter: RateLimiterAbstract =
    options.redis === undefined
      ? memory
      : new RateLimiterRedis({ storeClient: options.redis.client, points: 1, duration: 1, keyPrefix: keys.blocks, rejectIfRedisNotReady: true, insuranceLimiter: memory });

  const live = (held: Held | undefined, nowMs = Date.now()) => (held !== undefined && held.block.untilMs > nowMs ? held.block : undefined);
  // Unblocks announced while a resync reads Redis, by when this replica learned of them: one may come after Redis
  // answered with the block still on, and the resync must not put that block back.
  const lifted = new Map<string, number>();
  let resyncing = 0;
  const apply = (message: BlockMessage) => {
    if (message.op === 'unblock') {
      local.delete(message.client);
      if (resyncing > 0) lifted.set(message.client, (learned += 1));
    } else hold({ client: message.client, untilMs: Date.now() + message.ms, reason: message.reason, strikes: message.strikes }, true);
  };

  let subscriber: Redis | undefined;
  if (options.redis !== undefined) {
    const redis = options.redis;
    subscriber = redis.subscriber();
    subscriber.on('message', (_channel: string, text: string) => {
      const message = parseMessage(text);
      if (message !== undefined) apply(message);
    });
    // Every (re)connection: blocks made while this replica was not listening are read back from Redis, once both
    // connections are up (the reading one fails at once while it is not: it has no offline queue).
    const listening = subscriber;
    const resync = () => {
      if (redis.client.status !== 'ready' || listening.status !== 'ready') return;
      const before = learned;
      resyncing += 1;
      void readBlocks(redis.client, options.keyPrefix)
        .then(async (blocks) => {
          const held = new Set(blocks.map((block) => block.client));
          // A block this replica had from Redis that Redis no longer holds and that an operator lifted (`gateway
          // blocks unblock` leaves a mark) while this replica was not listening goes. One Redis lost (it restarted
          // empty, a failover) stays until its cooldown, as does one announced during the read (newer than what was
          // read), and one this replica decided alone while Redis was away (Redis never had it).
          const missing = [...local].filter(([client, entry]) => entry.fromRedis && entry.learned <= before && !held.has(client)).map(([client]) => client);
          if (missing.length > 0) {
            const marks = await redis.client.mget(missing.map((client) => `${keys.lifted}:${client}`));
            missing.forEach((client, index) => {
              if (marks[index] !== null && (local.get(client)?.learned ?? Number.POSITIVE_INFINITY) <= before) local.delete(client);
            });
          }
          for (const block of blocks) {
            if ((lifted.get(block.client) ?? 0) > before) continue;
            if ((local.get(block.client)?.block.untilMs ?? 0) < block.untilMs) hold(block, true);
          }
        })
        .catch((error: unknown) => options.logger.warn({ err: error }, 'the blocked clients could not be read from Redis; blocks from other replicas apply once announced'))
        .finally(() => {
          resyncing -= 1;
          if (resyncing === 0) lifted.clear();
        });
    };
    subscriber.on('ready', resync);
    redis.client.on('ready', resync);
    await subscriber.subscribe(keys.channel).catch((error: unknown) => options.logger.warn({ err: error }, 'could not subscribe to client blocks in Redis; it is retried when Redis is back'));
  }

  const list = () => {
    const now = Date.now();
    for (const [client, held] of local) if (live(held, now) === undefined) local.delete(client);
    return [...local.values()].map((held) => held.block).sort((a, b) => a.untilMs - b.untilMs);
  };

  return {
    get(client) {
      const block = live(local.get(client));
      if (block === undefined) local.delete(client);
      return block;
    },
    async add(block, seconds) {
      const redis = options.redis;
      // Written to Redis only if it was there for the block's key as well as for its announcement: otherwise the
      // limiter kept the key in this process (its insurance), and the block is this replica's alone.
      const shared = redis !== undefined && redis.client.status === 'ready';
      const entry = hold({ ...block, untilMs: Date.now() + seconds * 1000 }, false);
      await limiter.block(block.client, seconds);
      if (!shared || redis.client.status !== 'ready') return;
      const message: BlockMessage = { op: 'block', client: block.client, ms: seconds * 1000, reason: block.reason, strikes: block.strikes };
      await redis.client.multi().set(`${keys.details}:${block.client}`, JSON.stringify({ reason: block.reason, strikes: block.strikes }), 'PX', seconds * 1000).publish(keys.channel, JSON.stringify(message)).exec();
      entry.fromRedis = true;
    },
    empty: () => local.size === 0,
    list,
    size: () => list().length,
    async close() {
      subscriber?.removeAllListeners('message');
      subscriber?.removeAllListeners('ready');
    },
  };
}

function parseMessage(text: string): BlockMessage | undefined {
  try {
    const value = JSON.parse(text) as Partial<Record<string, unknown>>;
    if (typeof value['client'] !== 'string') return undefined;
    if (value['op'] === 'unblock') return { op: 'unblock', client: value['client'] };
    if (value['op'] === 'block' && typeof value['ms'] === 'number' && value['ms'] > 0) {
      return { op: 'block', client: value['client'], ms: value['ms'], reason: String(value['reason'] ?? 'unknown'), strikes: Number(value['strikes'] ?? 1) };
    }
  } catch {
    // not one of ours: ignored
  }
  return undefined;
}

/** Every block Redis holds, with its details where they were written: for a replica that (re)connects and for `gateway blocks list`. */
export async function readBlocks(client: Redis, keyPrefix: string): Promise<Block[]> {
  const keys = blockKeys(keyPrefix);
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${escapeGlob(keys.blocks)}:*`, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  if (found.length === 0) return [];
  const pipeline = client.pipeline();
  for (const key of found) {
    pipeline.pttl(key);
    pipeline.get(`${keys.details}:${key.slice(keys.blocks.length + 1)}`);
  }
  const replies = (await pipeline.exec()) ?? [];
  const now = Date.now();
  const blocks: Block[] = [];
  found.forEach((key, index) => {
    const ttl = Number(replies[index * 2]?.[1] ?? -2);
    if (!(ttl > 0)) return;
    let details: { reason?: string; strikes?: number } = {};
    try {
      details = JSON.parse(String(replies[index * 2 + 1]?.[1] ?? '{}')) as typeof details;
    } catch {
      // details are for people; a block without them is still a block
    }
    blocks.push({ client: key.slice(keys.blocks.length + 1), untilMs: now + ttl, reason: details.reason ?? 'unknown', strikes: details.strikes ?? 1 });
  });
  return blocks.sort((a, b) => a.untilMs - b.untilMs);
}

/**
 * Lifts a block everywhere and forgets the client's past (its score and strikes), for `gateway blocks unblock`: an
 * operator who unblocks says the client was not an attacker. Resolves to whether a block was on.
 */
export async function unblock(client: Redis, keyPrefix: string, blocked: string, decayWindowSec: number): Promise<boolean> {
  const keys = blockKeys(keyPrefix);
  const window = Math.floor(Date.now() / (decayWindowSec * 1000));
  const [[, removed] = []] =
    (await client
      .multi()
      .del(`${keys.blocks}:${blocked}`)
      .del(`${keys.details}:${blocked}`, `${keys.strikes}:${blocked}`, `${keys.scores}:${blocked}:${window}`, `${keys.scores}:${blocked}:${window - 1}`)
      .set(`${keys.lifted}:${blocked}`, String(Date.now()), 'EX', UNBLOCK_MEMORY_SEC)
      .publish(keys.channel, JSON.stringify({ op: 'unblock', client: blocked } satisfies BlockMessage))
      .exec()) ?? [];
  return Number(removed) > 0;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
