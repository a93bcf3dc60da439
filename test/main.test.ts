import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);
// A development key file outside the checkout: a test must not write into it.
const DEV_KEY_FILE = join(tmpdir(), `main-test-${process.pid}`, 'dev-issuer-key.json');
const gateway = (env: Record<string, string>) =>
  run('node', ['dist/src/main.js'], { cwd: ROOT, env: { PATH: process.env['PATH'], PORT: '0', DEV_KEY_FILE, ...env }, timeout: 20_000 });

describe('the gateway process', () => {
  it('refuses to start on bad configuration, exiting 2 with every problem and how to fix it', async () => {
    await expect(gateway({ PORT: 'eighty', SUBGRAPH_ACCOUNTS_URL: 'accounts:4001' })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/Invalid configuration:\n {2}- PORT must be a whole number \(got "eighty"\)\n {2}- SUBGRAPH_ACCOUNTS_URL must be an http:\/\/ or https:\/\/ URL/),
    });
  });

  it('exits 1 with a fatal log line naming the file when the supergraph cannot be read', async () => {
    const failure = await gateway({ SUPERGRAPH_PATH: '/nonexistent/supergraph.graphql' }).catch((error: unknown) => error as { code: number; stdout: string });
    expect(failure).toMatchObject({ code: 1 });
    const fatal = failure.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry['level'] === 60);
    expect(fatal).toMatchObject({ msg: 'the gateway could not start', err: { message: expect.stringContaining('/nonexistent/supergraph.graphql') } });
  });
});
