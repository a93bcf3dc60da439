import { runCli } from '../src/cli/runCli.js';

const ROOT = new URL('..', import.meta.url).pathname;

/** Runs `gateway <argv>` in this process, as a terminal would, and collects what it writes. */
export async function gateway(argv: string[], options: { env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env: options.env ?? {},
    cwd: options.cwd ?? ROOT,
  });
  return { code, stdout, stderr };
}
