import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { readBlocks, unblock } from '../clientBlocking/blockList.js';
import type { GatewayConfig } from '../config/index.js';
import { withoutCredentials } from '../common/redis.js';
import { CONFIG_OPTION, configFor } from './configOption.js';
import type { CliIo, Command } from './io.js';

const USAGE = 'Usage: gateway blocks list [--json] [--config <module>]\n       gateway blocks unblock <client> [--config <module>]   (a client as listed: ip:<address> or sub:<subject>)\n';

/**
 * `gateway blocks list` and `gateway blocks unblock <client>`: the clients the gateways block now, read from the Redis
 * they share (REDIS_URL), and lifting one block on every replica at once (the client's score and strikes are forgotten
 * too). Without Redis each gateway process keeps its own blocks, out of reach of a command: it says so.
 */
export const blocksCommand: Command = async (args, io) => {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false }, ...CONFIG_OPTION } });
  const [action, client, ...rest] = positionals;
  if ((action !== 'list' && action !== 'unblock') || (action === 'unblock' && client === undefined) || (action === 'list' && client !== undefined) || rest.length > 0) {
    io.stderr(USAGE);
    return 2;
  }
  const config = await configFor(values.config, io);
  if (config === undefined) return 2;
  const redisUrl = config.rateLimit.redisUrl;
  if (redisUrl === undefined) {
    io.stderr('Client blocks are shared only through Redis (REDIS_URL): without it each gateway process keeps its own, which end with their cooldown or a restart.\n');
    return 2;
  }
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 2_000, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (error) {
    io.stderr(`Redis at ${withoutCredentials(redisUrl)} cannot be reached: ${(error as Error).message}\n`);
    redis.disconnect();
    return 1;
  }
  try {
    if (action === 'list') return await list(redis, config, io, values.json);
    const lifted = await unblock(redis, config.redisKeyPrefix, client as string, config.clientBlocking.decayWindowSec);
    io.stdout(lifted ? `${client} is unblocked on every replica; its score and strikes are forgotten.\n` : `${client} was not blocked; its score and strikes are forgotten.\n`);
    return 0;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
};

async function list(redis: Redis, config: GatewayConfig, io: CliIo, json: boolean): Promise<number> {
  const blocks = await readBlocks(redis, config.redisKeyPrefix);
  const now = Date.now();
  if (json) {
    io.stdout(`${JSON.stringify(blocks.map((block) => ({ client: block.client, remainingSec: Math.ceil((block.untilMs - now) / 1000), until: new Date(block.untilMs).toISOString(), reason: block.reason, strikes: block.strikes })))}\n`);
    return 0;
  }
  if (blocks.length === 0) {
    io.stdout('No client is blocked.\n');
    return 0;
  }
  const rows = [['client', 'remaining', 'until', 'reason', 'strikes'], ...blocks.map((block) => [block.client, `${Math.ceil((block.untilMs - now) / 1000)} s`, new Date(block.untilMs).toISOString(), block.reason, String(block.strikes)])];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  io.stdout(`${rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n')}\n`);
  return 0;
}
