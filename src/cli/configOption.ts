import { ConfigError, configModulePath, importConfigModule, loadConfig, type GatewayConfig, type GatewayConfigInput } from '../config/index.js';
import type { CliIo } from './io.js';

/** The option every command that reads the configuration takes. */
export const CONFIG_OPTION = { config: { type: 'string' } } as const;

/** The config module a command uses, found as the gateway process finds it (see configModulePath). */
export async function configModuleFor(option: string | undefined, io: CliIo): Promise<GatewayConfigInput | undefined> {
  const path = configModulePath(option, io.env, io.cwd);
  return path === undefined ? undefined : importConfigModule(path, io.cwd);
}

/**
 * The configuration a command works with, validated as the gateway validates it at start (the module with the
 * environment over it); undefined, with every problem on standard error, when it is not valid.
 */
export async function configFor(option: string | undefined, io: CliIo): Promise<GatewayConfig | undefined> {
  try {
    return loadConfig(io.env, { module: await configModuleFor(option, io) });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`${error.message}\n`);
    return undefined;
  }
}
