import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GatewayConfigInput } from './schema.js';

const DEFAULT_MODULES = ['gateway.config.ts', 'gateway.config.mts', 'gateway.config.js', 'gateway.config.mjs'];

/**
 * Which config module to load, the same way for every entry point: the one named (`--config`), else GATEWAY_CONFIG,
 * else a `gateway.config.{ts,mts,js,mjs}` in the folder, else none (the environment alone).
 */
export function configModulePath(named: string | undefined, env: Readonly<Record<string, string | undefined>>, cwd: string): string | undefined {
  return named ?? (env['GATEWAY_CONFIG'] || undefined) ?? DEFAULT_MODULES.find((name) => existsSync(resolve(cwd, name)));
}

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
    let registerEsm: () => unknown;
    let registerCjs: () => unknown;
    try {
      ({ register: registerEsm } = (await import('tsx/esm/api')) as { register: typeof registerEsm });
      ({ register: registerCjs } = (await import('tsx/cjs/api')) as { register: typeof registerCjs });
    } catch {
      throw new Error(`${path} is TypeScript: install tsx to load it as it is, or point to its compiled .js (npm run build writes dist/gateway.config.js)`);
    }
    // Both: a .ts file in a package without "type": "module" goes through Node's CommonJS loader.
    registerEsm();
    registerCjs();
    // Node remembers the failed import of this URL: ask again under another one.
    loaded = (await import(`${url}?typescript`)) as { default?: unknown };
  }
  // A TypeScript module in a CommonJS package is compiled to `exports.default = ...`, which import() wraps once more.
  const exported = loaded.default as { __esModule?: unknown; default?: unknown } | undefined;
  const config = exported !== null && typeof exported === 'object' && exported.__esModule === true ? exported.default : exported;
  if (typeof config !== 'object' || config === null || Array.isArray(config) || Object.getPrototypeOf(config) !== Object.prototype) {
    throw new Error(`${path} must export its configuration, a plain object, as the default export: export default defineConfig({ ... })`);
  }
  return config as GatewayConfigInput;
}
