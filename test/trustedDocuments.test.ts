import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, sha256Hex } from '../src/trustedDocuments/manifest.js';
import { readTopology } from '../src/topology/composeFile.js';
import { composeSupergraph } from '../src/topology/composeSupergraph.js';
import { gateway } from './cli.js';
import { SUBGRAPH_NAMES, startStack, waitFor, type Stack } from './harness.js';

// The storefront's operations (frontend/persisted-query-manifest.json, which the demo's config module names) as the
// gateway's trusted list: served by id or by text in every mode, the only documents served under `enforce`.

const ROOT = new URL('..', import.meta.url).pathname;
const MANIFEST_PATH = join(ROOT, 'frontend/persisted-query-manifest.json');
const MANIFEST = JSON.parse(readFileSync(MANIFEST_PATH, 'utf8')) as { operations: { id: string; name: string; body: string }[] };
const operation = (name: string) => {
  const found = MANIFEST.operations.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no ${name} in the storefront's manifest`);
  return found;
};
const TOP_PRODUCTS = operation('TopProducts');
const UNLISTED = '{ topProducts { name costPrice } }';
const received = (stack: Stack) => SUBGRAPH_NAMES.reduce((total, name) => total + stack.subgraphs[name].counter.received, 0);

async function post(stack: Stack, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(`${stack.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'apollographql-client-name': 'storefront', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] } };
}
const byHash = (id: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash: id } } });
const metric = async (stack: Stack, line: string) => {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  return Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
};

describe('a manifest', () => {
  it.each<[string, string, string]>([
    ['not JSON', '{', 'm.json is not JSON'],
    ['another format', JSON.stringify({ format: 'relay', version: 1, operations: [] }), 'm.json is not an Apollo persisted query manifest: format must be "apollo-persisted-query-manifest"'],
    ['another version', JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 2, operations: [] }), 'm.json is not an Apollo persisted query manifest: version must be 1'],
    ['an operation without a body', JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: 'a', name: 'A', type: 'query' }] }), 'm.json is not an Apollo persisted query manifest: operations.0.body'],
    [
      'one id for two documents',
      JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: 'a', name: 'A', type: 'query', body: '{ a }' }, { id: 'a', name: 'B', type: 'query', body: '{ b }' }] }),
      'm.json gives the id a two different documents (A, B)',
    ],
  ])('is refused when it is %s', (_case, text, message) => {
    expect(() => parseManifest(text, 'm.json')).toThrow(message);
  });

  it('is read with each body\'s hash, by which a full document is matched', () => {
    const [document] = parseManifest(JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: 'x1', name: 'A', type: 'query', body: '{ a }' }] }), 'm.json');
    expect(document).toEqual({ id: 'x1', name: 'A', type: 'query', body: '{ a }', bodyHash: sha256Hex('{ a }'), manifest: 'm.json' });
  });
});

describe('TRUSTED_DOCUMENTS=enforce', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { TRUSTED_DOCUMENTS: 'enforce', TRUSTED_DOCUMENTS_BYPASS_ROLES: 'developer', AUTOMATIC_PERSISTED_QUERIES: 'true' } });
  });
  afterAll(() => stack.stop());

  it('prepared every listed document when the list loaded: none is parsed or planned on request', async () => {
    expect(stack.logs.find((line) => line['msg'] === 'trusted documents prepared')).toMatchObject({ documents: MANIFEST.operations.length, invalid: 0, mode: 'enforce' });
    // The first request of all runs on the plan made at load. (Me, whose email an ownership rule decides, is planned
    // as rewritten for its caller's check, on its first request.)
    const misses = await metric(stack, 'gateway_query_plans_total{cache="miss"}');
    const hits = await metric(stack, 'gateway_query_plans_total{cache="hit"}');
    const first = await post(stack, { ...byHash(TOP_PRODUCTS.id), operationName: 'TopProducts' });
    expect(first.body.errors).toBeUndefined();
    expect(await metric(stack, 'gateway_query_plans_total{cache="miss"}')).toBe(misses);
    expect(await metric(stack, 'gateway_query_plans_total{cache="hit"}')).toBe(hits + 1);
  });

  it('serves a listed document named by its hash (Apollo\'s convention), by documentId, or sent in full', async () => {
    const hashOnly = await post(stack, { ...byHash(TOP_PRODUCTS.id), operationName: 'TopProducts' });
    expect(hashOnly.status).toBe(200);
    expect(hashOnly.body.errors).toBeUndefined();
    expect((hashOnly.body.data?.['topProducts'] as unknown[]).length).toBeGreaterThan(0);
    const byDocumentId = await post(stack, { documentId: TOP_PRODUCTS.id });
    expect(byDocumentId).toEqual(hashOnly);
    const full = await post(stack, { query: TOP_PRODUCTS.body });
    expect(full).toEqual(hashOnly);
    const me = await post(stack, byHash(TOP_PRODUCTS.id), await stack.as({ subject: '1' }));
    expect(me).toEqual(hashOnly);
  });

  it('serves one by GET too', async () => {
    const response = await fetch(`${stack.url}/graphql?documentId=${TOP_PRODUCTS.id}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: { topProducts: unknown[] } }).data.topProducts.length).toBeGreaterThan(0);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a document not in the list', { query: UNLISTED }],
    ['a hash not in the list', byHash(sha256Hex(UNLISTED))],
    ['a documentId not in the list', { documentId: 'not-a-document' }],
    ['an automatic persisted query registration', { query: UNLISTED, ...byHash(sha256Hex(UNLISTED)) }],
    ['a fragment bomb', { query: `query Bomb { ...F9 } ${Array.from({ length: 10 }, (_, i) => (i === 0 ? 'fragment F0 on Query { topProducts { name } }' : `fragment F${i} on Query { ...F${i - 1} ...F${i - 1} }`)).join(' ')}` }],
  ])('refuses %s with 400 PERSISTED_QUERY_NOT_IN_LIST before anything runs', async (_case, body) => {
    const before = received(stack);
    const response = await post(stack, body);
    expect(response).toEqual({ status: 400, body: { errors: [{ message: 'This operation is not in the list of trusted documents', extensions: { code: 'PERSISTED_QUERY_NOT_IN_LIST' } }] } });
    expect(received(stack)).toBe(before);
    // The gateway goes on serving.
    expect((await post(stack, byHash(TOP_PRODUCTS.id))).status).toBe(200);
  });

  it('lets a caller with a bypass role send any document, and no one else', async () => {
    const developer = await post(stack, { query: '{ topProducts { name } }' }, await stack.as({ subject: '3', roles: ['developer'] }));
    expect(developer.status).toBe(200);
    expect(developer.body.errors).toBeUndefined();
    const admin = await post(stack, { query: '{ topProducts { name } }' }, await stack.as({ subject: '6', roles: ['admin'] }));
    expect(admin.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_IN_LIST');
  });

  it('counts hits, refusals and bypasses, and unlisted documents by client name', async () => {
    const hits = await metric(stack, 'gateway_trusted_documents_total{result="hit"}');
    const refused = await metric(stack, 'gateway_trusted_documents_total{result="miss_refused"}');
    const bypass = await metric(stack, 'gateway_trusted_documents_total{result="bypass"}');
    const storefront = await metric(stack, 'gateway_untrusted_documents_total{client="storefront"}');
    await post(stack, byHash(TOP_PRODUCTS.id));
    await post(stack, { query: '{ __typename }' });
    await post(stack, { query: '{ __typename }' }, await stack.as({ subject: '3', roles: ['developer'] }));
    expect(await metric(stack, 'gateway_trusted_documents_total{result="hit"}')).toBe(hits + 1);
    expect(await metric(stack, 'gateway_trusted_documents_total{result="miss_refused"}')).toBe(refused + 1);
    expect(await metric(stack, 'gateway_trusted_documents_total{result="bypass"}')).toBe(bypass + 1);
    expect(await metric(stack, 'gateway_untrusted_documents_total{client="storefront"}')).toBe(storefront + 1);
  });

});

describe('TRUSTED_DOCUMENTS=audit and off', () => {
  it('audit serves a document not in the list, and tells of it once', async () => {
    const stack = await startStack({ env: { TRUSTED_DOCUMENTS: 'audit' } });
    try {
      for (let i = 0; i < 3; i += 1) expect((await post(stack, { query: '{ topProducts { name } }' })).body.errors).toBeUndefined();
      const told = stack.logs.filter((line) => line['msg'] === 'a document not in the trusted list was served (audit)');
      expect(told).toHaveLength(1);
      expect(told[0]).toMatchObject({ clientName: 'storefront', hash: sha256Hex('{ topProducts { name } }'), mode: 'audit' });
      expect(await metric(stack, 'gateway_trusted_documents_total{result="miss_audited"}')).toBe(3);
    } finally {
      await stack.stop();
    }
  });

  it('off (the default) serves listed documents by id and every other document as before', async () => {
    const stack = await startStack();
    try {
      expect((await post(stack, byHash(TOP_PRODUCTS.id))).status).toBe(200);
      expect((await post(stack, { query: '{ topProducts { name } }' })).body.errors).toBeUndefined();
      // Not listed, and automatic persisted queries are off: Apollo's own answer, as without a list.
      expect((await post(stack, byHash(sha256Hex(UNLISTED)))).body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
    } finally {
      await stack.stop();
    }
  });
});

describe('a manifest that changes', () => {
  it('is swapped without a restart; a bad file is refused and the old list keeps serving', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trusted-'));
    const path = join(dir, 'manifest.json');
    const manifest = (operations: { id: string; name: string; body: string }[]) => JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: operations.map((entry) => ({ ...entry, type: 'query' })) });
    const names = { id: 'names', name: 'Names', body: 'query Names { topProducts { name } }' };
    const prices = { id: 'prices', name: 'Prices', body: 'query Prices { topProducts { price } }' };
    await writeFile(path, manifest([names]));
    const stack = await startStack({ env: { TRUSTED_DOCUMENTS: 'enforce', TRUSTED_DOCUMENTS_MANIFESTS: path } });
    try {
      expect((await post(stack, { documentId: 'names' })).status).toBe(200);
      expect((await post(stack, { documentId: 'prices' })).status).toBe(400);
      // Replaced by rename, as deploy tools do.
      await writeFile(`${path}.next`, manifest([names, prices]));
      await rename(`${path}.next`, path);
      await waitFor(async () => (await post(stack, { documentId: 'prices' })).status === 200);
      await writeFile(path, '{ "format": "apollo-persisted-query-manifest"');
      await waitFor(() => stack.logs.some((line) => line['msg'] === 'trusted document change refused; the previous list keeps serving'));
      expect((await post(stack, { documentId: 'prices' })).status).toBe(200);
    } finally {
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a manifest mounted from a Kubernetes ConfigMap', () => {
  it('is swapped when the kubelet swaps the `..data` symlink, which names no manifest file', async () => {
    // The kubelet's layout: the files live in a timestamped folder, `..data` points at it, and each file is a symlink
    // through `..data`. An update writes a new folder, points `..data_tmp` at it and renames that over `..data`.
    const dir = await mkdtemp(join(tmpdir(), 'configmap-'));
    const manifest = (operations: { id: string; name: string; body: string }[]) => JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: operations.map((entry) => ({ ...entry, type: 'query' })) });
    const names = { id: 'names', name: 'Names', body: 'query Names { topProducts { name } }' };
    const prices = { id: 'prices', name: 'Prices', body: 'query Prices { topProducts { price } }' };
    const { mkdir, symlink } = await import('node:fs/promises');
    const version = async (name: string, text: string) => {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'manifest.json'), text);
    };
    await version('..2026_12_01_1', manifest([names]));
    await symlink('..2026_12_01_1', join(dir, '..data'));
    await symlink('..data/manifest.json', join(dir, 'manifest.json'));
    const stack = await startStack({ env: { TRUSTED_DOCUMENTS: 'enforce', TRUSTED_DOCUMENTS_MANIFESTS: join(dir, 'manifest.json') } });
    try {
      expect((await post(stack, { documentId: 'prices' })).status).toBe(400);
      await version('..2026_12_01_2', manifest([names, prices]));
      await symlink('..2026_12_01_2', join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      await waitFor(async () => (await post(stack, { documentId: 'prices' })).status === 200);
      expect((await post(stack, { documentId: 'names' })).status).toBe(200);
    } finally {
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('gateway check', () => {
  it('fails when a subgraph change breaks a storefront operation, naming the operation, its manifest and the error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'broken-schema-'));
    try {
      // The reviews team renames `rating`: the storefront's TopProducts and CreateReview select it.
      const topology = await readTopology(join(ROOT, 'docker-compose.yml'));
      const reviews = topology.subgraphs.find((subgraph) => subgraph.name === 'reviews');
      if (reviews === undefined) throw new Error('no reviews subgraph');
      const changed = join(dir, 'reviews.graphql');
      await writeFile(changed, (await readFile(reviews.schemaFile, 'utf8')).replace(/^  rating: Int$/m, '  stars: Int'));
      const composed = await composeSupergraph(topology.subgraphs.map((subgraph) => (subgraph === reviews ? { ...subgraph, schemaFile: changed } : subgraph)));
      if (!composed.ok) throw new Error(composed.errors.join('\n'));
      await writeFile(join(dir, 'supergraph.graphql'), composed.supergraphSdl);

      const ok = await gateway(['check'], { cwd: ROOT });
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain(`${MANIFEST.operations.length} of ${MANIFEST.operations.length} trusted documents validate against schema/supergraph.graphql.`);

      const broken = await gateway(['check'], { cwd: ROOT, env: { SUPERGRAPH_PATH: join(dir, 'supergraph.graphql') } });
      expect(broken.code).toBe(1);
      expect(broken.stderr).toContain(`trusted document TopProducts (${MANIFEST_PATH}, id ${TOP_PRODUCTS.id}) does not validate against ${join(dir, 'supergraph.graphql')}: Cannot query field "rating" on type "Review".`);
      expect(broken.stdout).toMatch(/Verdict: 2 trusted documents would fail against this supergraph\./);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
