import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { importConfigModule, type GatewayConfigInput } from '../config/index.js';
import type { CliIo } from './io.js';

/** The option every command that reads the configuration takes. */
export const CONFIG_OPTION = { config: { type: 'string' } } as const;

const DEFAULT_MODULES = ['gateway.config.ts', 'gateway.config.js', 'gateway.config.mjs'];

/**
 * The config module a command uses: `--config <path>`, else GATEWAY_CONFIG, else a `gateway.config.{ts,js,mjs}` in the
 * current folder, else none (the environment alone).
 */
export async function configModuleFor(option: string | undefined, io: CliIo): Promise<GatewayConfigInput | undefined> {
  const path = option ?? (io.env['GATEWAY_CONFIG'] || undefined) ?? DEFAULT_MODULES.find((name) => existsSync(resolve(io.cwd, name)));
  return path === undefined ? undefined : importConfigModule(path, io.cwd);
}
