import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateDevKey, signDevToken } from '../src/auth/devIssuer.js';
import { readTopology } from '../src/topology/composeFile.js';
import { launchTopology, type RunningTopology } from '../src/topology/launcher.js';
import { gateway } from './cli.js';
import { postGraphQL } from './harness.js';

const ROOT = new URL('..', import.meta.url).pathname;

/**
 * A team adopting the gateway for a graph of its own: two subgraphs (test/fixtures/library), its own compose file and
 * its own config module with a custom role and an ownership rule, run through the CLI (`gateway compose`, `gateway
 * permissions`, and `gateway serve` as the compose file's command). Nothing under src/ knows this graph.
 */
describe('a second graph, run through the CLI with its own config module', () => {
  let project: string;
  let running: RunningTopology | undefined;
  const output: string[] = [];

  beforeAll(async () => {
    project = await mkdtemp(join(tmpdir(), 'library-'));
    await cp(join(ROOT, 'test/fixtures/library'), project, { recursive: true });
    for (const shared of ['dist', 'node_modules']) await symlink(join(ROOT, shared), join(project, shared));
  });

  afterAll(async () => {
    await running?.stop();
    await rm(project, { recursive: true, force: true });
  });

  it('composes, checks its permissions, and serves its policy: a custom role and an ownership rule', async () => {
    const composed = await gateway(['compose'], { cwd: project });
    expect(composed).toMatchObject({ code: 0, stdout: expect.stringContaining('from books, loans') });

    const permissions = await gateway(['permissions', '--check', '--config', 'gateway.config.mjs'], { cwd: project });
    expect(permissions).toMatchObject({ code: 0, stdout: 'Every field of schema/supergraph.graphql has an explicit access rule (8 fields).\n' });
    const matrix = await gateway(['permissions', '--config', 'gateway.config.mjs'], { cwd: project });
    expect(matrix.stdout).toMatch(/Loan\.note\s.*owner/);

    running = await launchTopology({
      topology: await readTopology(join(project, 'docker-compose.yml')),
      baseEnv: { PATH: process.env['PATH'], APOLLO_TELEMETRY_DISABLED: 'true', LOG_LEVEL: 'warn' },
      ports: 'ephemeral',
      gatewayEnv: { NODE_ENV: 'development', LOG_LEVEL: 'warn' },
      output: (service, line) => output.push(`${service}: ${line}`),
      startTimeoutMs: 20_000,
    });
    const url = running.gatewayUrl;
    const key = await loadOrCreateDevKey(join(project, '.dev', 'dev-issuer-key.json'));
    const as = async (subject: string, roles: string[] = []) => ({ authorization: `Bearer ${await signDevToken(key, { subject, roles, scopes: [], ttlSec: 60 })}` });

    const books = await postGraphQL(url, '{ books { title } }');
    expect(books.body, output.join('\n')).toEqual({ data: { books: [{ title: 'Middlemarch' }, { title: 'Dune' }] } });

    // The member sees their own note and not another's; the librarian sees both; an anonymous caller no loans at all.
    const member = await postGraphQL(url, '{ loans { id note book { title } } }', { headers: await as('m1') });
    expect(member.body).toEqual({
      data: { loans: [{ id: 'l1', note: 'for the book club', book: { title: 'Middlemarch' } }, { id: 'l2', note: null, book: { title: 'Dune' } }] },
      errors: [{ message: 'Not authorised', locations: [{ line: 1, column: 14 }], path: ['loans', 1, 'note'], extensions: { code: 'FORBIDDEN' } }],
    });
    const librarian = await postGraphQL(url, '{ loans { note } }', { headers: await as('staff-1', ['librarian']) });
    expect(librarian.body).toEqual({ data: { loans: [{ note: 'for the book club' }, { note: 'overdue, sorry' }] } });
    const anonymous = await postGraphQL(url, '{ loans { id } }');
    expect(anonymous.body).toMatchObject({ data: null, errors: [{ path: ['loans'], extensions: { code: 'FORBIDDEN' } }] });

    // Its own limits: a cost of 50, not the default 10000 (each `loans { book { id } }` costs 10 × 2).
    const headers = await as('m1');
    expect((await postGraphQL(url, '{ a: loans { book { id } } b: loans { book { id } } }', { headers })).status).toBe(200);
    const costly = await postGraphQL(url, '{ a: loans { book { id } } b: loans { book { id } } c: loans { book { id } } }', { headers });
    expect(costly.status).toBe(400);
    expect(costly.body.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_COST_EXCEEDED', limit: 50, actual: 60 });
  }, 60_000);
});
