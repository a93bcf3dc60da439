import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { guardNetwork } from './networkGuard.js';
import { startStack } from './harness.js';
import { TEST_QUERY } from './fixtures/testQuery.js';
import { createSigningKey, TestIssuer } from './testIssuer.js';

describe('outgoing connections', () => {
  const saved = process.env['APOLLO_TELEMETRY_DISABLED'];
  afterEach(() => {
    process.env['APOLLO_TELEMETRY_DISABLED'] = saved;
  });

  it('the guard sees a connection this process makes, to a port no test expects', async () => {
    const guard = guardNetwork();
    const stranger = createServer((_request, response) => response.end('hi'));
    await new Promise<void>((resolve) => stranger.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = stranger.address() as AddressInfo;
      await (await fetch(`http://127.0.0.1:${port}/`)).text();
      expect(guard.attempts).toContainEqual({ host: '127.0.0.1', port, blocked: false });
    } finally {
      guard.restore();
      stranger.close();
    }
  });

  it('a gateway that starts and serves a query connects to its subgraphs and its key set only, even when the environment asks for Apollo telemetry', async () => {
    // The gateway must switch @apollo/gateway's telemetry off in code, whatever the environment says.
    process.env['APOLLO_TELEMETRY_DISABLED'] = 'false';
    const issuer = await TestIssuer.start([await createSigningKey('ES256', 'k')]);
    const guard = guardNetwork();
    try {
      const stack = await startStack({ env: issuer.env() });
      try {
        const response = await stack.query(TEST_QUERY, { headers: { authorization: `Bearer ${await issuer.sign()}` } });
        expect(response.status).toBe(200);
        expect(response.body.errors).toBeUndefined();
        // Telemetry starts in the background: give it the time it would take to try.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      } finally {
        await stack.stop();
      }
      const gatewayPort = Number(new URL(stack.url).port);
      const subgraphPorts = Object.values(stack.subgraphs).map((subgraph) => Number(new URL(subgraph.url).port));
      expect(process.env['APOLLO_TELEMETRY_DISABLED']).toBe('true');
      expect(guard.attempts.filter((attempt) => attempt.blocked)).toEqual([]);
      const keySetPort = Number(new URL(issuer.jwksUrl).port);
      const unexpected = guard.attempts.filter((attempt) => ![gatewayPort, keySetPort, ...subgraphPorts].includes(attempt.port));
      expect(unexpected).toEqual([]);
      expect(issuer.fetches).toBe(1);
      // The query went through: the gateway did connect to its subgraphs (so the guard was watching).
      expect(guard.attempts.filter((attempt) => subgraphPorts.includes(attempt.port)).length).toBeGreaterThan(0);
    } finally {
      guard.restore();
      await issuer.stop();
    }
  });
});
