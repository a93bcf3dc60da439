import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

/**
 * Where ports for a child process are picked: below the ephemeral ranges (Linux 32768–60999, macOS and Windows
 * 49152–65535), which is where the kernel takes the local port of every outgoing connection and of every listen on
 * port 0. A port found free by binding port 0 and closing is from that range, and the next connection this machine
 * opens may take it before the child binds it (CI saw EADDRINUSE that way, with a load test running alongside).
 * Nothing takes a port from here unless asked for it by number.
 */
const RANGE = { from: 20_000, to: 32_767 } as const;
const ATTEMPTS = 200;

/** Ports nothing listens on now, for processes started next that must be told their port (a child, HAProxy). */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count; attempt += 1) {
    if (attempt === ATTEMPTS) throw new Error(`no free port found between ${RANGE.from} and ${RANGE.to} after ${ATTEMPTS} tries`);
    const port = randomInt(RANGE.from, RANGE.to + 1);
    if (!ports.has(port) && (await bindable(port))) ports.add(port);
  }
  return [...ports];
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}
