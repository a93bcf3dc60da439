import { parseArgs } from 'node:util';
import { CONFIG_OPTION } from './configOption.js';
import type { Command } from './io.js';

/**
 * `gateway serve [--config <module>]`: runs one gateway process (what a container runs), with the config module given
 * by --config or GATEWAY_CONFIG and the environment over it. It owns the process until SIGTERM.
 */
export const serveCommand: Command = async (args) => {
  const { values } = parseArgs({ args, options: { ...CONFIG_OPTION } });
  // The gateway's entry point reads its module from the environment, as a worker of a cluster reads it again.
  if (values.config !== undefined) process.env['GATEWAY_CONFIG'] = values.config;
  await import('../main.js');
  return new Promise<number>(() => undefined);
};
