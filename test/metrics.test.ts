import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productionEnv, startStack, type Stack } from './harness.js';

const metricsOf = async (url: string) => {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
};

describe('Prometheus metrics', () => {
  let stack: Stack;
  beforeAll(async () => {
    // 210 distinct documents from one caller: their plans alone would otherwise spend the caller's rate budget.
    stack = await startStack({ env: { PLAN_MISS_POINTS: '0' } });
  });
  afterAll(() => stack.stop());

  it('counts operations by name and outcome, rejections by reason, and times subgraph requests per subgraph', async () => {
    await stack.query('query Catalog { topProducts { name } }');
    await stack.query('query Private { user(id: "1") { email } }');
    await stack.query('query Mine { me { id } }', { headers: { authorization: 'Bearer not.a.token' } });
    await stack.query(`query Deep { user(id: "1") { ${'reviews { author { '.repeat(8)}id${' } }'.repeat(8)} } }`);
    const text = await metricsOf(`${stack.url}/metrics`);
    expect(text).toContain('gateway_graphql_requests_total{operation="Catalog",outcome="success"} 1');
    expect(text).toContain('gateway_graphql_requests_total{operation="Private",outcome="rejected"} 1');
    expect(text).toContain('gateway_graphql_requests_total{operation="unresolved",outcome="rejected"} 1');
    expect(text).toContain('gateway_rejections_total{reason="authz"} 1');
    expect(text).toContain('gateway_rejections_total{reason="depth"} 1');
    expect(text).toContain('gateway_rejections_total{reason="auth"} 1');
    expect(text).toMatch(/gateway_subgraph_fetch_duration_seconds_count\{subgraph="products"\} [1-9]/);
    expect(text).toContain('gateway_graphql_request_duration_seconds_count{operation="Catalog"} 1');
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('makes no label of a name sent with a request that fails before its operation resolves', async () => {
    await stack.query('query Squatter1 { nope }');
    await stack.query('query Squatter2 { ', { operationName: 'Squatter2' });
    expect(await metricsOf(`${stack.url}/metrics`)).not.toContain('Squatter');
  });

  it('keeps operation names to a bounded set', async () => {
    for (let index = 0; index < 210; index += 1) await stack.query(`query Op${index} { topProducts(first: 1) { upc } }`);
    const text = await metricsOf(`${stack.url}/metrics`);
    const names = new Set([...text.matchAll(/gateway_graphql_requests_total\{operation="([^"]+)"/g)].map((match) => match[1]));
    // At most 200 names, plus `anonymous` and `other`.
    expect(names.size).toBeLessThanOrEqual(202);
    expect(names.has('other')).toBe(true);
  });
});

describe('metrics in production', () => {
  it('are not on the public port, and are served on METRICS_PORT', async () => {
    const stack = await startStack({ env: { ...(await productionEnv()), METRICS_PORT: '0' } });
    try {
      expect((await fetch(`${stack.url}/metrics`)).status).toBe(404);
      const line = stack.logs.find((entry) => entry['msg'] === 'metrics listening');
      const text = await metricsOf(String(line?.['url']));
      expect(text).toContain('gateway_graphql_requests_total');
    } finally {
      await stack.stop();
    }
  });
});
