import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
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

  it('refuses to start when GATEWAY_CONFIG names no module, or one whose settings are wrong', async () => {
    await expect(gateway({ GATEWAY_CONFIG: 'nowhere.config.js' })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/Invalid configuration:\n {2}- the config module \(GATEWAY_CONFIG or --config\): the config module nowhere.config.js does not exist/),
    });
    const dir = await mkdtemp(join(tmpdir(), 'main-config-'));
    await writeFile(join(dir, 'bad.config.mjs'), 'export default { limits: { maxDepth: 0 }, bodyLimitBytes: 10 };\n');
    await expect(gateway({ GATEWAY_CONFIG: join(dir, 'bad.config.mjs') })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/- config limits.maxDepth must be at least 1\n {2}- config bodyLimitBytes must be at least 1024/),
    });
  });
});
