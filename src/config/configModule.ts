import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GatewayConfigInput } from './schema.js';

/**
 * Loads a config module (`export default defineConfig({...})`) by path, as the CLI's `--config` and `GATEWAY_CONFIG`
 * name it. A compiled `.js` module is imported as it is; a `.ts` one through tsx, when it is installed (development:
 * production images run the compiled file). Whether the default export is a sound configuration is decided by
 * `loadConfig`, with the rest. Running under a TypeScript loader already (tsx, vitest), the module is imported as any.
 */
export async function importConfigModule(path: string, cwd = process.cwd()): Promise<GatewayConfigInput> {
  const absolute = resolve(cwd, path);
  if (!existsSync(absolute)) throw new Error(`the config module ${path} does not exist (resolved to ${absolute})`);
  const url = pathToFileURL(absolute).href;
  let loaded: { default?: unknown };
  try {
    loaded = (await import(url)) as { default?: unknown };
  } catch (error) {
    // Node without a TypeScript loader: register tsx's, in this module graph (not tsx's isolated `tsImport`), so
    // that the module shares this process's graphql-shield, whose rule classes the policy is told apart by.
    if ((error as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
    let register: () => unknown;
    try {
      ({ register } = (await import('tsx/esm/api')) as { register: typeof register });
    } catch {
      throw new Error(`${path} is TypeScript: install tsx to load it as it is, or point to its compiled .js (npm run build writes dist/gateway.config.js)`);
    }
    register();
    // Node remembers the failed import of this URL: ask again under another one.
    loaded = (await import(`${url}?typescript`)) as { default?: unknown };
  }
  const config = loaded.default;
  if (typeof config !== 'object' || config === null) throw new Error(`${path} must export its configuration as the default export: export default defineConfig({ ... })`);
  return config as GatewayConfigInput;
}
