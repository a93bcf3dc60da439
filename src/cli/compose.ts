import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readTopology } from '../topology/composeFile.js';
import { composeSupergraph } from '../topology/composeSupergraph.js';
import type { Command } from './io.js';

/**
 * `gateway compose [--check] [--file docker-compose.yml] [--out <file>]`: composes the supergraph from the subgraphs
 * the compose file declares (schema/supergraph.graphql beside it). With --check it writes nothing and fails when the
 * committed supergraph is stale.
 */
export const composeCommand: Command = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: { check: { type: 'boolean', default: false }, file: { type: 'string', default: 'docker-compose.yml' }, out: { type: 'string' } },
  });
  const topology = await readTopology(resolve(io.cwd, values.file));
  const output = values.out === undefined ? join(topology.projectDir, 'schema', 'supergraph.graphql') : resolve(io.cwd, values.out);
  const result = await composeSupergraph(topology.subgraphs);
  if (!result.ok) {
    io.stderr(`Composition failed with ${result.errors.length} error(s):\n${result.errors.map((error) => `  - ${error}`).join('\n')}\n`);
    return 1;
  }
  if (values.check) {
    const committed = await readFile(output, 'utf8').catch(() => '');
    if (committed !== result.supergraphSdl) {
      io.stderr(`${output} is stale: it differs from what the subgraphs' SDL files compose to. Run \`npm run compose\` and commit the result.\n`);
      return 1;
    }
    io.stdout(`${output} is up to date (${topology.subgraphs.length} subgraphs).\n`);
    return 0;
  }
  await writeFile(output, result.supergraphSdl);
  io.stdout(`Wrote ${output} from ${topology.subgraphs.map((subgraph) => subgraph.name).join(', ')}.\n`);
  return 0;
};
