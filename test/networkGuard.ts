import net from 'node:net';

export interface ConnectionAttempt {
  host: string;
  port: number;
  blocked: boolean;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * Records every outgoing TCP connection this process attempts (http, https, fetch and node-fetch all end in
 * `net.Socket.prototype.connect`), and refuses any that is not to loopback before a packet leaves: a regression
 * fails the test without ever reaching the outside network.
 */
export function guardNetwork(): { attempts: ConnectionAttempt[]; restore(): void } {
  const attempts: ConnectionAttempt[] = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    const target = targetOf(args);
    if (target === undefined) return original.apply(this, args as Parameters<typeof original>);
    const blocked = !LOOPBACK.test(target.host);
    attempts.push({ ...target, blocked });
    if (blocked) {
      process.nextTick(() => this.destroy(new Error(`connection to ${target.host}:${target.port} blocked by the test's network guard`)));
      return this;
    }
    return original.apply(this, args as Parameters<typeof original>);
  } as typeof original;
  return {
    attempts,
    restore: () => {
      net.Socket.prototype.connect = original;
    },
  };
}

/** The host and port of a `connect` call, in any of its forms; undefined for a Unix socket path. */
function targetOf(args: unknown[]): { host: string; port: number } | undefined {
  let first = args[0];
  // Node calls connect([options, callback]) internally (normalized arguments).
  if (Array.isArray(first)) first = first[0];
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string; port?: number | string; path?: string | null };
    // As net does: a truthy path is a Unix socket (http passes path: null for TCP).
    if (options.path) return undefined;
    return { host: options.host ?? 'localhost', port: Number(options.port) };
  }
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: Number(first) };
}
