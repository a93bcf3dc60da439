import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { accessMatrix, formatAccessMatrix } from '../authz/accessMatrix.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { CONFIG_OPTION, configModuleFor } from './configOption.js';
import type { Command } from './io.js';

/**
 * `gateway permissions [--check] [--supergraph <file>] [--config <module>]`: the access matrix of every field by caller
 * class, under the config module's policy: anonymous, a plain user, and each role and scope set the policy or the
 * supergraph names (see `callerClasses`), with a legend of what each class holds. With --check, prints no matrix and
 * fails listing the fields no rule covers (they fall back to deny).
 */
export const permissionsCommand: Command = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: { supergraph: { type: 'string', default: 'schema/supergraph.graphql' }, check: { type: 'boolean', default: false }, ...CONFIG_OPTION },
  });
  let policy;
  try {
    // The policy as the gateway would apply it: the module's, through the same validation (and defaults) as at start.
    ({ policy } = loadConfig(io.env, { module: await configModuleFor(values.config, io) }));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`${error.message}\n`);
    return 2;
  }
  const matrix = await accessMatrix(await readFile(resolve(io.cwd, values.supergraph), 'utf8'), policy);
  for (const warning of matrix.warnings) io.stderr(`warning: ${warning}\n`);
  if (!values.check) {
    io.stdout(`${formatAccessMatrix(matrix)}\n\n`);
    io.stdout('allow: always; deny: never; owner: decided on the object (its owner or per the rule); lookup: decided on data the rule fetches.\n');
  }
  if (matrix.uncovered.length > 0) {
    io.stderr(
      `${matrix.uncovered.length} field(s) have no rule and are denied to everyone:\n${matrix.uncovered.map((field) => `  - ${field}`).join('\n')}\n` +
        'Decide their access in the config module\'s policy (gateway.config.ts), or in the subgraph\'s SDL with @authenticated, @requiresScopes or @policy.\n',
    );
    return values.check ? 1 : 0;
  }
  if (values.check) io.stdout(`Every field of ${values.supergraph} has an explicit access rule (${matrix.rows.length} fields).\n`);
  return 0;
};
