import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
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
  /** A way to it for one client that the test can cut while the others stay connected. */
  link(): Promise<RedisLink>;
}

/** A TCP relay to the redis-server: what a network between one replica and Redis does, as far as that replica sees. */
export interface RedisLink {
  /** Where the client connects instead of the server's own URL. */
  url: string;
  /** Ends every connection through it, and refuses new ones until `restore()`, as a partition would. */
  cut(): void;
  restore(): void;
  /** Cuts it for good and stops listening: in the test's teardown. */
  close(): Promise<void>;
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
    async link() {
      const sockets = new Set<Socket>();
      let up = true;
      const relay = createServer((client) => {
        if (!up) {
          client.destroy();
          return;
        }
        const server = connect(port, '127.0.0.1');
        for (const socket of [client, server]) {
          sockets.add(socket);
          socket.on('error', () => undefined);
          socket.once('close', () => {
            client.destroy();
            server.destroy();
            sockets.delete(socket);
          });
        }
        client.pipe(server).pipe(client);
      });
      relay.listen(0, '127.0.0.1');
      await once(relay, 'listening');
      const cut = () => {
        up = false;
        for (const socket of sockets) socket.destroy();
      };
      return {
        url: `redis://127.0.0.1:${(relay.address() as AddressInfo).port}`,
        cut,
        restore: () => void (up = true),
        async close() {
          cut();
          const closed = once(relay, 'close');
          relay.close();
          await closed;
        },
      };
    },
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
