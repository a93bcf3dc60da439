import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

/** Every request waits on what it asks Redis: a Redis that hangs must cost a request this much at most, not its timeout. */
const REDIS_COMMAND_TIMEOUT_MS = 500;
const REDIS_CONNECT_TIMEOUT_MS = 2_000;
const REDIS_MAX_RECONNECT_DELAY_MS = 2_000;

export interface SharedRedis {
  client: Redis;
  /** Whether commands can be sent now; while not, callers answer from what they keep in this process. */
  ready(): boolean;
  /** A second connection for SUBSCRIBE (a subscribed connection can send nothing else), reporting like the first. */
  subscriber(): Redis;
  close(): Promise<void>;
}

/** What the log says when Redis goes away and when it is back: each user says what it falls back to. */
export interface RedisOutageMessages {
  onDown: string;
  onUp: string;
  /** Called once each time Redis is back after an outage (not on the first connection). */
  onBack?: () => void;
}

/**
 * An ioredis client that fails fast while Redis is away (no offline queue, one retry, a command timeout) and keeps
 * reconnecting with a capped backoff. It reports an outage once when it starts and once when it ends, rather than on
 * every failed reconnection attempt or request.
 */
export function connectRedis(redisUrl: string, logger: Logger, messages: RedisOutageMessages): SharedRedis {
  const options = {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt: number) => Math.min(100 * 2 ** (attempt - 1), REDIS_MAX_RECONNECT_DELAY_MS),
  };
  const client = new Redis(redisUrl, options);
  const redis = withoutCredentials(redisUrl);
  const connections: Redis[] = [client];
  let downSinceMs: number | undefined;
  let closing = false;

  const markDown = (error?: Error) => {
    if (closing || downSinceMs !== undefined) return;
    downSinceMs = Date.now();
    logger.warn({ redis, ...(error ? { err: error } : {}) }, messages.onDown);
  };
  // Without an `error` listener, ioredis would report every failed reconnection attempt on its own.
  client.on('error', (error: Error) => markDown(error));
  // A Redis that dies closes the connection before any error: report the outage then, not a reconnection later.
  client.on('close', () => markDown());
  client.on('end', () => markDown());
  client.on('ready', () => {
    if (downSinceMs === undefined) return;
    logger.info({ redis, downForMs: Date.now() - downSinceMs }, messages.onUp);
    downSinceMs = undefined;
    messages.onBack?.();
  });

  return {
    client,
    ready: () => client.status === 'ready',
    subscriber() {
      // Subscribing needs the offline queue: SUBSCRIBE is sent once, and replayed by ioredis on every reconnection.
      const subscriber = new Redis(redisUrl, { ...options, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
      subscriber.on('error', () => undefined);
      connections.push(subscriber);
      return subscriber;
    },
    async close() {
      closing = true;
      for (const connection of connections) {
        // QUIT waits for replies still due; while disconnected there are none, and QUIT would only fail.
        if (connection.status === 'ready') {
          try {
            await connection.quit();
            continue;
          } catch {
            // the connection went away meanwhile: nothing left to wait for
          }
        }
        connection.disconnect();
      }
    },
  };
}

/** The URL to name in logs: a password in it must not reach a log line. */
export function withoutCredentials(redisUrl: string): string {
  try {
    const url = new URL(redisUrl);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return '[unparsable Redis URL]';
  }
}
