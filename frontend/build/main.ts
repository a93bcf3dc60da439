// `npm run build` (its `build:storefront` step, after tsc compiled this file): bundles the page into
// dist/frontend/public, where the storefront server (dist/frontend/server/main.js) serves it from.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleStorefront } from './bundle.js';

const projectDir = process.cwd();
const { version } = JSON.parse(await readFile(join(projectDir, 'package.json'), 'utf8')) as { version: string };
const outDir = join(projectDir, 'dist', 'frontend', 'public');
const { scriptBytes } = await bundleStorefront({ frontendDir: join(projectDir, 'frontend'), outDir, version });
process.stdout.write(`Bundled the storefront ${version} into ${outDir} (app.js ${Math.round(scriptBytes / 1024)} KiB).\n`);
