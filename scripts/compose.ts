// npm run compose [-- --check]: composes schema/supergraph.graphql from the subgraphs docker-compose.yml declares.
// With --check it writes nothing and fails when the committed supergraph is stale.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readTopology } from '../src/topology/composeFile.js';
import { composeSupergraph } from '../src/topology/composeSupergraph.js';

const { values } = parseArgs({
  options: { check: { type: 'boolean', default: false }, file: { type: 'string', default: 'docker-compose.yml' }, out: { type: 'string' } },
});

const topology = await readTopology(values.file);
const output = values.out ?? join(topology.projectDir, 'schema', 'supergraph.graphql');
const result = await composeSupergraph(topology.subgraphs);
if (!result.ok) {
  process.stderr.write(`Composition failed with ${result.errors.length} error(s):\n${result.errors.map((error) => `  - ${error}`).join('\n')}\n`);
  process.exit(1);
}

if (values.check) {
  const committed = await readFile(output, 'utf8').catch(() => '');
  if (committed !== result.supergraphSdl) {
    process.stderr.write(`${output} is stale: it differs from what the subgraphs' SDL files compose to. Run \`npm run compose\` and commit the result.\n`);
    process.exit(1);
  }
  process.stdout.write(`${output} is up to date (${topology.subgraphs.length} subgraphs).\n`);
} else {
  await writeFile(output, result.supergraphSdl);
  process.stdout.write(`Wrote ${output} from ${topology.subgraphs.map((subgraph) => subgraph.name).join(', ')}.\n`);
}
