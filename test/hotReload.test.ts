import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTopology } from '../src/topology/composeFile.js';
import { composeSupergraph } from '../src/topology/composeSupergraph.js';
import { COMMITTED_SUPERGRAPH, startStack, waitFor, type Stack } from './harness.js';

/** Replaces the file in one step, as deploy tools do, so the watcher never sees half a file. */
async function replaceFile(path: string, content: string): Promise<void> {
  await writeFile(`${path}.next`, content);
  await rename(`${path}.next`, path);
}

describe('hot reload of the supergraph file', () => {
  let stack: Stack;
  let original: string;
  let withoutInventory: string;

  beforeAll(async () => {
    stack = await startStack();
    original = await readFile(COMMITTED_SUPERGRAPH, 'utf8');
    const topology = await readTopology(new URL('../docker-compose.yml', import.meta.url).pathname);
    const composed = await composeSupergraph(topology.subgraphs.filter((subgraph) => subgraph.name !== 'inventory'));
    if (!composed.ok) throw new Error(composed.errors.join('\n'));
    withoutInventory = composed.supergraphSdl;
  });
  afterAll(() => stack.stop());

  const inStockQuery = '{ topProducts(first: 1) { name inStock } }';

  it('swaps to a new graph without dropping a request, rejects a broken file, and keeps serving the old graph', async () => {
    expect((await stack.query(inStockQuery)).body).toEqual({ data: { topProducts: [{ name: 'Table', inStock: true }] } });

    // Requests keep flowing while the graph changes under them; every one must be answered in full.
    let flowing = true;
    const answers: number[] = [];
    const traffic = (async () => {
      while (flowing) {
        const response = await stack.query('{ topProducts(first: 2) { upc name } user(id: "1") { id } }');
        answers.push(response.status === 200 && response.body.errors === undefined ? 1 : 0);
      }
    })();

    await replaceFile(stack.supergraphPath, withoutInventory);
    await waitFor(() => stack.reloads.length === 1);
    expect(stack.reloads[0]).toMatchObject({ ok: true });
    const gone = await stack.query(inStockQuery);
    expect(gone.status).toBe(400);
    expect(gone.body.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');

    await replaceFile(stack.supergraphPath, 'this is not a supergraph {');
    await waitFor(() => stack.reloads.length === 2);
    expect(stack.reloads[1]).toMatchObject({ ok: false });
    expect(stack.logs.some((entry) => entry['msg'] === 'supergraph change rejected; the previous graph keeps serving')).toBe(true);
    expect((await stack.query('{ topProducts(first: 1) { name } }')).body).toEqual({ data: { topProducts: [{ name: 'Table' }] } });
    expect((await stack.query(inStockQuery)).status).toBe(400);

    await replaceFile(stack.supergraphPath, original);
    await waitFor(() => stack.reloads.length === 3);
    expect(stack.reloads[2]).toMatchObject({ ok: true });
    expect((await stack.query(inStockQuery)).body).toEqual({ data: { topProducts: [{ name: 'Table', inStock: true }] } });

    flowing = false;
    await traffic;
    expect(answers.length).toBeGreaterThan(3);
    expect(answers.every((ok) => ok === 1)).toBe(true);
    expect((await fetch(`${stack.url}/ready`)).status).toBe(200);
  });

  it('rejects a file that parses but is not a supergraph', async () => {
    const before = stack.reloads.length;
    await replaceFile(stack.supergraphPath, 'type Query { hello: String }');
    await waitFor(() => stack.reloads.length === before + 1);
    expect(stack.reloads[before]).toMatchObject({ ok: false });
    expect((await stack.query(inStockQuery)).body).toEqual({ data: { topProducts: [{ name: 'Table', inStock: true }] } });
  });

  it('follows a Kubernetes-style update, where a `..data` symlink is swapped and the file itself never changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'configmap-'));
    try {
      // The layout the kubelet writes for a mounted ConfigMap.
      await mkdir(join(dir, 'v1'));
      await writeFile(join(dir, 'v1', 'supergraph.graphql'), original);
      await symlink('v1', join(dir, '..data'));
      await symlink(join('..data', 'supergraph.graphql'), join(dir, 'supergraph.graphql'));
      const stack = await startStack({ env: { SUPERGRAPH_PATH: join(dir, 'supergraph.graphql') } });
      try {
        expect((await stack.query(inStockQuery)).status).toBe(200);
        await mkdir(join(dir, 'v2'));
        await writeFile(join(dir, 'v2', 'supergraph.graphql'), withoutInventory);
        await symlink('v2', join(dir, '..data_tmp'));
        await rename(join(dir, '..data_tmp'), join(dir, '..data'));
        await waitFor(() => stack.reloads.length === 1);
        expect(stack.reloads[0]).toMatchObject({ ok: true });
        expect((await stack.query(inStockQuery)).status).toBe(400);
      } finally {
        await stack.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
