import { blocksCommand } from './blocks.js';
import { checkCommand } from './check.js';
import { composeCommand } from './compose.js';
import { processIo, type Command } from './io.js';
import { permissionsCommand } from './permissions.js';
import { serveCommand } from './serve.js';
import { startCommand } from './start.js';
import { tokenCommand } from './token.js';

const COMMANDS: Readonly<Record<string, { run: Command; summary: string }>> = {
  serve: { run: serveCommand, summary: 'run the gateway (--config <module>; GATEWAY_CONFIG and the environment as documented)' },
  start: { run: startCommand, summary: 'run the topology docker-compose.yml declares, as local processes (--file, --production)' },
  check: { run: checkCommand, summary: 'print the effective security settings and whether the gateway would start (--config)' },
  permissions: { run: permissionsCommand, summary: 'the access matrix of every field by caller class (--check, --supergraph, --config)' },
  compose: { run: composeCommand, summary: 'compose schema/supergraph.graphql from the compose file\'s subgraphs (--check, --file, --out)' },
  blocks: { run: blocksCommand, summary: 'the clients blocked now (list [--json]) or lift a block on every replica (unblock <client>), through REDIS_URL' },
  token: { run: tokenCommand, summary: 'print a development token (--sub, --roles, --scopes, --ttl)' },
};

/** Runs `gateway <command> ...`; unknown commands and `--help` print the list. */
export async function runCli(argv: readonly string[], io = processIo): Promise<number> {
  const [name, ...args] = argv;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (command === undefined) {
    const width = Math.max(...Object.keys(COMMANDS).map((key) => key.length));
    const list = Object.entries(COMMANDS).map(([key, { summary }]) => `  ${key.padEnd(width)}  ${summary}`).join('\n');
    const help = name === undefined || name === '--help' || name === 'help';
    (help ? io.stdout : io.stderr)(`${help ? '' : `gateway: unknown command ${JSON.stringify(name)}\n`}Usage: gateway <command> [options]\n\n${list}\n`);
    return help ? 0 : 2;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    // parseArgs refuses unknown options with a code of its own: the caller's mistake, said plainly.
    const code = (error as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      io.stderr(`gateway ${name}: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}
