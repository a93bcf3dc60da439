import { configModulePath, importConfigModule, type GatewayConfigInput } from '../config/index.js';
import type { CliIo } from './io.js';

/** The option every command that reads the configuration takes. */
export const CONFIG_OPTION = { config: { type: 'string' } } as const;

/** The config module a command uses, found as the gateway process finds it (see configModulePath). */
export async function configModuleFor(option: string | undefined, io: CliIo): Promise<GatewayConfigInput | undefined> {
  const path = configModulePath(option, io.env, io.cwd);
  return path === undefined ? undefined : importConfigModule(path, io.cwd);
}
