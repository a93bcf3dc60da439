// npm run permissions [-- --supergraph <file> --config <module>]: the access matrix of every field, by caller class,
// under the config module's policy (gateway.config.ts by default).
// npm run check:permissions: fails when a field has no explicit rule (it falls back to deny), listing those fields.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { accessMatrix, formatAccessMatrix } from '../src/authz/accessMatrix.js';
import { importConfigModule, loadConfig } from '../src/config/index.js';

const { values } = parseArgs({
  options: {
    supergraph: { type: 'string', default: 'schema/supergraph.graphql' },
    config: { type: 'string', default: 'gateway.config.ts' },
    check: { type: 'boolean', default: false },
  },
});

// The policy as the gateway would apply it: the module's, through the same validation (and defaults) as at start.
const { policy } = loadConfig({}, { module: await importConfigModule(values.config) });
const matrix = await accessMatrix(await readFile(values.supergraph, 'utf8'), policy);
for (const warning of matrix.warnings) process.stderr.write(`warning: ${warning}\n`);

if (!values.check) {
  process.stdout.write(`${formatAccessMatrix(matrix)}\n\n`);
  process.stdout.write('allow: always; deny: never; owner: decided on the object (its owner or per the rule); lookup: decided on data the rule fetches.\n');
}
if (matrix.uncovered.length > 0) {
  process.stderr.write(
    `${matrix.uncovered.length} field(s) have no rule and are denied to everyone:\n${matrix.uncovered.map((field) => `  - ${field}`).join('\n')}\n` +
      `Decide their access in ${values.config}, or in the subgraph's SDL with @authenticated, @requiresScopes or @policy.\n`,
  );
  if (values.check) process.exit(1);
} else if (values.check) {
  process.stdout.write(`Every field of ${values.supergraph} has an explicit access rule (${matrix.rows.length} fields).\n`);
}
