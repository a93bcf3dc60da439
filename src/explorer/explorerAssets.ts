import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The explorer's files, as `npm run build` writes them into dist/explorer (scripts/buildExplorer.ts) and the gateway
 * serves them at /explorer/assets/<name>: Yoga's GraphiQL bundle (@graphql-yoga/graphiql: GraphiQL 5, React and
 * Monaco in one prebuilt UMD file, with its stylesheet, fonts inlined, and Monaco's three web workers) and the
 * gateway's own start script. `from` is a path in EXPLORER_PACKAGE, or in this folder for the start script (`own`).
 */
export const EXPLORER_PACKAGE = '@graphql-yoga/graphiql';

export const EXPLORER_ASSETS = [
  { name: 'graphiql.js', from: 'dist/yoga-graphiql.umd.js', type: 'text/javascript; charset=utf-8' },
  { name: 'graphiql.css', from: 'dist/graphiql.css', type: 'text/css; charset=utf-8' },
  { name: 'editor.worker.js', from: 'dist/monacoeditorwork/editor.worker.bundle.js', type: 'text/javascript; charset=utf-8' },
  { name: 'json.worker.js', from: 'dist/monacoeditorwork/json.worker.bundle.js', type: 'text/javascript; charset=utf-8' },
  { name: 'graphql.worker.js', from: 'dist/monacoeditorwork/graphql.worker..bundle.js', type: 'text/javascript; charset=utf-8' },
  { name: 'explorer.js', from: 'explorer.client.js', own: true, type: 'text/javascript; charset=utf-8' },
] as const;

export interface ExplorerAsset {
  type: string;
  body: Buffer;
  /** A strong ETag: the SHA-256 of the body, so a browser revalidates and gets 304 until the gateway is rebuilt. */
  etag: string;
}

/** The explorer's files, read once at start: the route serves them from memory. */
export type ExplorerAssets = ReadonlyMap<string, ExplorerAsset>;

/** The project's root: the nearest folder above this module with a package.json (the same from src/ and dist/src/). */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** Where `npm run build` writes the explorer's files. */
export function explorerAssetDir(root = packageRoot()): string {
  return join(root, 'dist', 'explorer');
}

/**
 * Reads every explorer file from `dir`; undefined when any is missing (the gateway was not built), so that the
 * caller can say how to fix it instead of serving a page that cannot start.
 */
export async function loadExplorerAssets(dir = explorerAssetDir()): Promise<ExplorerAssets | undefined> {
  const assets = new Map<string, ExplorerAsset>();
  for (const { name, type } of EXPLORER_ASSETS) {
    const path = join(dir, name);
    if (!existsSync(path)) return undefined;
    const body = await readFile(path);
    assets.set(name, { type, body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` });
  }
  return assets;
}
