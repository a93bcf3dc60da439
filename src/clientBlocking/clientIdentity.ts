import { isIPv6 } from 'node:net';
import proxyAddr from '@fastify/proxy-addr';
import type { Principal } from '../auth/principal.js';

/**
 * Whom a suspicion score and a block belong to: the subject of a token the gateway verified, else the client's address
 * (which is the peer's, or X-Forwarded-For's only behind a proxy in TRUSTED_PROXIES). Never a subject the gateway did not
 * verify: a flood of forged tokens naming a victim is charged to the address that sent it, not to the victim.
 *
 * A verified caller is judged by its subject alone, never by the address it may share with others (an office behind
 * one NAT): blocking an address does not block the users who sign in from it.
 */
export function clientKeyOf(principal: Principal, clientIp: string): string {
  return principal.kind === 'user' ? `sub:${principal.subject}` : `ip:${addressKey(clientIp)}`;
}

/**
 * An IPv4 address as it is; an IPv6 address by its /64, the smallest network a host is given: one host holds 2^64
 * addresses and could otherwise be a new client with each request (and fill every replica's block list). An IPv4
 * address written as IPv6 (`::ffff:192.0.2.1`) is the IPv4 address.
 */
export function addressKey(address: string): string {
  if (!isIPv6(address)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail counts as two groups, none of which are in the first four.
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16)).join(':')}::/64`;
}

export interface AllowlistOptions {
  /** Addresses or CIDR ranges (e.g. `10.0.0.0/8`) never scored or blocked: monitoring, internal callers. */
  cidrs: readonly string[];
  /** Verified subjects never scored or blocked: a synthetic test user, a partner's integration. */
  subjects: readonly string[];
}

/** Whether a request is exempt from scoring and blocking: its address is in a listed range, or its verified subject is listed. */
export type Allowlist = (principal: Principal, clientIp: string) => boolean;

export function createAllowlist(options: AllowlistOptions): Allowlist {
  // The library Fastify itself trusts proxies with: the same CIDR syntax TRUSTED_PROXIES takes, IPv4-mapped IPv6 included.
  const inRanges = options.cidrs.length > 0 ? proxyAddr.compile([...options.cidrs]) : () => false;
  const subjects = new Set(options.subjects);
  return (principal, clientIp) => (principal.kind === 'user' && subjects.has(principal.subject)) || inRanges(clientIp, 0);
}
