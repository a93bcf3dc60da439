import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { printSchema } from 'graphql';
import { accessMatrix, apiSchemaOf, callerClasses, formatAccessMatrix } from '../authz/accessMatrix.js';
import { compilePolicy, type Policy } from '../authz/compilePolicy.js';
import { visibleSchemas } from '../authz/visibleSchema.js';
import { CONFIG_OPTION, configFor } from './configOption.js';
import type { Command } from './io.js';

/**
 * `gateway permissions [--check] [--supergraph <file>] [--config <module>]`: the access matrix of every field by caller
 * class, under the config module's policy: anonymous, a plain user, and each role and scope set the policy or the
 * supergraph names (see `callerClasses`), with a legend of what each class holds. With --check, prints no matrix and
 * fails listing the fields no rule covers (they fall back to deny). With --as <caller class> (a column's name:
 * `anonymous`, `user`, `role:admin`, ...), prints instead the SDL of the schema as that class may see it: what its
 * introspection answers (see `visibleSchema`).
 */
export const permissionsCommand: Command = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: { supergraph: { type: 'string', default: 'schema/supergraph.graphql' }, check: { type: 'boolean', default: false }, as: { type: 'string' }, ...CONFIG_OPTION },
  });
  // The policy as the gateway would apply it: the module's, through the same validation (and defaults) as at start.
  const config = await configFor(values.config, io);
  if (config === undefined) return 2;
  const { policy } = config;
  if (values.as !== undefined && values.check) {
    io.stderr('--as prints one caller class\'s view, --check checks every field: use one of them\n');
    return 2;
  }
  const supergraphSdl = await readFile(resolve(io.cwd, values.supergraph), 'utf8');
  if (values.as !== undefined) return printView(supergraphSdl, policy, values.as, io);
  const matrix = await accessMatrix(supergraphSdl, policy);
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

/** The SDL of the schema as one caller class may see it; exit 2, naming the classes there are, for an unknown one. */
async function printView(supergraphSdl: string, policy: Policy, name: string, io: Parameters<Command>[1]): Promise<number> {
  const callers = callerClasses(policy, supergraphSdl);
  const caller = callers.find((candidate) => candidate.name === name);
  if (caller === undefined) {
    io.stderr(`--as ${name}: no such caller class under this policy; the classes are: ${callers.map((candidate) => candidate.name).join(', ')}\n`);
    return 2;
  }
  const schema = apiSchemaOf(supergraphSdl);
  const view = await visibleSchemas(schema, compilePolicy(schema, supergraphSdl, policy)).of(caller.principal);
  if (view === undefined) {
    io.stdout(`# Nothing of Query is visible to ${name}: its introspection is refused with FORBIDDEN.\n`);
    return 0;
  }
  io.stdout(`# The schema as ${name} may see it: what its introspection answers. Fields decided on the object or on looked-up data are shown.\n${printSchema(view)}\n`);
  return 0;
}
