// `npm run check:manifest`: fails when the committed persisted-query manifest is not what the storefront's operations
// generate, since the gateway trusts exactly the operations in it.
import { checkManifest } from './manifest.js';

const result = await checkManifest(process.cwd());
if (result.upToDate) {
  process.stdout.write(`${result.path} is up to date (${result.generated.operations.length} operations).\n`);
} else {
  process.stderr.write(`${result.path} is stale: it differs from what frontend/src/operations/ generates. Run \`npm run manifest\` and commit the result.\n`);
  process.exitCode = 1;
}
