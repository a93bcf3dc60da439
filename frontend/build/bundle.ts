import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { STATIC_FILES } from './staticFiles.js';

export interface BundleOptions {
  /** The storefront's source, `frontend/` (its `src/main.ts`, `public/` and `persisted-query-manifest.json`). */
  frontendDir: string;
  /** Where the static files go (`dist/frontend/public` in `npm run build`). */
  outDir: string;
  /** Sent as `apollographql-client-version` by the page. */
  version: string;
}

export interface BundleResult {
  outDir: string;
  /** Bytes of `app.js`. */
  scriptBytes: number;
}

/**
 * Bundles the page's TypeScript (Apollo Client's core and the DOM code) into one ES module, `app.js`, and copies the
 * other `STATIC_FILES` (`index.html`, its styles and icon) from `frontend/public` beside it. `.graphql` files are
 * bundled as their text; Apollo Client's `production` export condition drops its development checks and messages.
 */
export async function bundleStorefront(options: BundleOptions): Promise<BundleResult> {
  await mkdir(options.outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(options.frontendDir, 'src', 'main.ts')],
    outfile: join(options.outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // Browsers that run ES modules with top-level features of 2022; no transpiling beyond that.
    target: 'es2022',
    // `module` first: Apollo Client and graphql list their ES modules under it, and a `require()` inside a CommonJS
    // dependency (@apollo/persisted-query-lists) then gets the same copy instead of a second, CommonJS one.
    conditions: ['module', 'production'],
    mainFields: ['module', 'main'],
    loader: { '.graphql': 'text' },
    plugins: [printOnlyGraphqlForPersistedQueryLists(options.frontendDir)],
    define: { STOREFRONT_VERSION: JSON.stringify(options.version) },
    minify: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
  });
  // Two copies of Apollo Client (its ES modules and its CommonJS build) would each keep their own state: fail loudly.
  const commonJsCopies = Object.keys(result.metafile.inputs).filter((input) => input.includes('@apollo/client/__cjs/'));
  if (commonJsCopies.length > 0) throw new Error(`the bundle holds Apollo Client's CommonJS build too (${commonJsCopies[0]}, ...)`);
  const copied = STATIC_FILES.filter((file) => file !== 'app.js');
  await Promise.all(copied.map((file) => copyFile(join(options.frontendDir, 'public', file), join(options.outDir, file))));
  const script = await readFile(join(options.outDir, 'app.js'));
  return { outDir: options.outDir, scriptBytes: script.byteLength };
}

/**
 * `@apollo/persisted-query-lists` is CommonJS: its `require("graphql")` would put every module of graphql-js into the
 * bundle (190 of 370 KB), where Apollo Client's ES imports let esbuild keep only what they use. The package uses only
 * graphql's `print`, so that `require` gets a module exporting just `print`, from the same ES copy of graphql. The
 * build fails if a new version of the package uses anything else from graphql.
 */
function printOnlyGraphqlForPersistedQueryLists(resolveDir: string): Plugin {
  const namespace = 'graphql-print-only';
  const fromPackage = /[\\/]@apollo[\\/]persisted-query-lists[\\/]/;
  return {
    name: namespace,
    setup(plugin) {
      plugin.onResolve({ filter: /^graphql$/ }, (args) =>
        args.kind === 'require-call' && fromPackage.test(args.importer) ? { path: 'graphql', namespace } : undefined,
      );
      plugin.onLoad({ filter: /.*/, namespace }, () => ({ contents: "export { print } from 'graphql';", resolveDir, loader: 'js' }));
      plugin.onLoad({ filter: /[\\/]@apollo[\\/]persisted-query-lists[\\/].*\.js$/ }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        const used = new Set([...source.matchAll(/graphql_1\.(\w+)/g)].map((match) => match[1]));
        const unexpected = [...used].filter((name) => name !== 'print');
        if (unexpected.length > 0) {
          return { errors: [{ text: `${args.path} uses graphql's ${unexpected.join(', ')}: extend printOnlyGraphqlForPersistedQueryLists` }] };
        }
        return undefined;
      });
    },
  };
}
