import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from '../src/topology/freePorts.js';
import { waitFor } from './harness.js';

/** A redis-server of a test's own, for tests that stop Redis and bring it back (the machine's Redis is shared). */
export interface RedisServer {
  port: number;
  url: string;
  /** Starts it on its port (again, after `stop`), resolving once it answers PING. */
  start(): Promise<void>;
  /** Kills it, as a crash would (nothing is saved: it comes back empty). */
  stop(): Promise<void>;
}

/** A redis-server on a free port, not yet started; `stop()` in the test's teardown whatever happened. */
export async function redisServer(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const stop = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const started = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      child = started;
      await waitFor(async () => {
        if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode}`);
        return (await ping(port)) === 'PONG';
      }, 5_000);
    },
    stop,
  };
}

async function ping(port: number): Promise<string | undefined> {
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return await probe.ping();
  } catch {
    return undefined;
  } finally {
    probe.disconnect();
  }
}
