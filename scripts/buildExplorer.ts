// `npm run build` (its `build:explorer` step, after tsc compiled this file): copies the explorer's files into
// dist/explorer, where the gateway serves them from (src/explorer/explorerAssets.ts). @graphql-yoga/graphiql is a
// devDependency: its prebuilt bundle is all the gateway needs of it, and a production image (npm prune --omit=dev)
// carries none of its own dependencies.
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EXPLORER_ASSETS, EXPLORER_PACKAGE, explorerAssetDir, packageRoot } from '../src/explorer/explorerAssets.js';

const root = packageRoot();
const require = createRequire(join(root, 'package.json'));
const outDir = explorerAssetDir(root);
await mkdir(outDir, { recursive: true });
// The package exports only its entry point: its folder is found by its package.json, as Node would find it.
const packageDir = dirname(require.resolve(`${EXPLORER_PACKAGE}/package.json`));
for (const asset of EXPLORER_ASSETS) {
  const { name, from } = asset;
  // The start script is the gateway's own (src/explorer); everything else comes from the package.
  const source = 'own' in asset ? join(root, 'src', 'explorer', from) : join(packageDir, from);
  await copyFile(source, join(outDir, name));
}
process.stdout.write(`Copied the explorer (${EXPLORER_ASSETS.length} files) into ${outDir}.\n`);
