import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, type DocumentNode } from 'graphql';

/** The project's root: the nearest folder above this file with a package.json (works from src and from dist). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** A subgraph's SDL from `schema/<name>.graphql`, the single source of truth for its schema. */
export function loadSubgraphTypeDefs(name: string): DocumentNode {
  return parse(readFileSync(join(projectRoot(), 'schema', `${name}.graphql`), 'utf8'));
}
