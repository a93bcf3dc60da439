import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { gateway } from './cli.js';

const ROOT = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);

describe('the gateway command', () => {
  it('lists its commands for --help', async () => {
    const help = await gateway(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.match(/^ {2}(\w+) /gm)?.map((line) => line.trim())).toEqual(['serve', 'start', 'check', 'permissions', 'compose', 'blocks', 'token']);
  });

  it.each<[string, string[], RegExp]>([
    ['an unknown command', ['deploy'], /^gateway: unknown command "deploy"\nUsage: gateway <command>/],
    ['an unknown option', ['compose', '--chek'], /^gateway compose: Unknown option '--chek'/],
  ])('refuses %s with exit code 2 and says why', async (_case, argv, message) => {
    const refused = await gateway(argv);
    expect(refused).toMatchObject({ code: 2, stdout: '' });
    expect(refused.stderr).toMatch(message);
  });

  it('signs no development token for a production configuration', async () => {
    const refused = await gateway(['token', '--config', 'gateway.config.ts'], { env: { NODE_ENV: 'production', JWT_PUBLIC_KEYS: 'keys.json', JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'api' } });
    expect(refused).toMatchObject({ code: 2, stdout: '' });
    expect(refused.stderr).toContain('never for a production gateway');
  });

  it('prints, with a development token, the explorer link that carries it in the fragment (never sent to the server)', async () => {
    const keyFile = join(await mkdtemp(join(tmpdir(), 'token-link-')), 'dev-key.json');
    const signed = await gateway(['token', '--roles', 'admin'], { env: { DEV_KEY_FILE: keyFile } });
    expect(signed.code).toBe(0);
    const token = signed.stdout.trim();
    expect(signed.stderr).toContain(`Or open the explorer with it in the headers:  http://localhost:4000/explorer#token=${token}\n`);
    const withoutExplorer = await gateway(['token'], { env: { DEV_KEY_FILE: keyFile, EXPLORER: 'false', PORT: '4400' } });
    expect(withoutExplorer.code).toBe(0);
    expect(withoutExplorer.stderr).not.toContain('explorer');
    const elsewhere = await gateway(['token'], { env: { DEV_KEY_FILE: keyFile, PORT: '4400' } });
    expect(elsewhere.stderr).toContain(`http://localhost:4400/explorer#token=${elsewhere.stdout.trim()}\n`);
  });

  it('loads a TypeScript config module in a project whose package.json is not "type": "module", from the build', async () => {
    const project = await mkdtemp(join(tmpdir(), 'adopter-'));
    try {
      await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'adopter', private: true }));
      await writeFile(join(project, 'gateway.config.ts'), 'const maxCost: number = 77;\nexport default { limits: { maxCost } };\n');
      const { stdout } = await run('node', [join(ROOT, 'dist/src/cli/main.js'), 'check'], { cwd: project, env: { PATH: process.env['PATH'], APOLLO_TELEMETRY_DISABLED: 'true' } });
      expect(stdout).toMatch(/^max tokens \/ length \/ expanded selections \/ cost +2000 \/ 32768 \/ 2000 \/ 77$/m);
    } finally {
      await rm(project, { recursive: true, force: true });
    }
  });

  it('runs as the package\'s bin, from the build', async () => {
    const { stdout } = await run('node', ['dist/src/cli/main.js', 'check', '--config', 'gateway.config.ts'], { cwd: ROOT, env: { PATH: process.env['PATH'], APOLLO_TELEMETRY_DISABLED: 'true' } });
    expect(stdout).toMatch(/^field caps +Mutation.createReview=1$/m);
    expect(stdout).toMatch(/^subgraph auth +mint by default$/m);
    expect(stdout).toContain('Verdict: the gateway would start.');
  });
});
