import { readFile } from 'node:fs/promises';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import type { SubgraphSpec } from './composeFile.js';

export type CompositionResult = { ok: true; supergraphSdl: string } | { ok: false; errors: readonly string[] };

/**
 * Composes the subgraphs' SDL files into a supergraph, offline, with @apollo/composition. Each subgraph's URL is
 * the one the compose file declares. Every composition error is returned, not just the first.
 */
export async function composeSupergraph(subgraphs: readonly Pick<SubgraphSpec, 'name' | 'url' | 'schemaFile'>[]): Promise<CompositionResult> {
  const errors: string[] = [];
  const definitions = [];
  for (const subgraph of subgraphs) {
    let sdl: string;
    try {
      sdl = await readFile(subgraph.schemaFile, 'utf8');
    } catch {
      errors.push(`[${subgraph.name}] cannot read ${subgraph.schemaFile}: every subgraph needs its SDL in schema/${subgraph.name}.graphql`);
      continue;
    }
    try {
      definitions.push({ name: subgraph.name, url: subgraph.url.href, typeDefs: parse(sdl) });
    } catch (error) {
      errors.push(`[${subgraph.name}] ${subgraph.schemaFile}: ${(error as Error).message}`);
    }
  }
  if (errors.length > 0) return { ok: false, errors };

  const result = composeServices(definitions);
  if (result.errors) return { ok: false, errors: result.errors.map((error) => error.message) };
  return { ok: true, supergraphSdl: `${result.supergraphSdl.trimEnd()}\n` };
}
