import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitFor } from './harness.js';

describe('OpenTelemetry traces', () => {
  let collector: Server;
  const received: { path: string; body: string }[] = [];
  beforeAll(async () => {
    // A stand-in OTLP/HTTP collector on this machine.
    collector = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => {
        received.push({ path: request.url ?? '', body });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => {
    collector.closeAllConnections();
    collector.close();
  });

  it('exports the gateway\'s spans to the configured OTLP endpoint', async () => {
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const stack = await startStack({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'gateway-under-test' } });
    try {
      expect((await stack.query('{ topProducts(first: 1) { name inStock } }')).status).toBe(200);
      await waitFor(() => received.some((entry) => entry.body.includes('gateway.fetch')), 10_000);
    } finally {
      await stack.stop();
    }
    const traces = received.filter((entry) => entry.path === '/v1/traces').map((entry) => entry.body).join('\n');
    expect(traces).toContain('gateway.request');
    expect(traces).toContain('gateway-under-test');
  });
});
