/**
 * The files of the built page (the page, its script, styles and icon), all in one directory: written by the bundler (bundle.ts), served by the storefront
 * server. Kept apart from the bundler so that the server, which runs without dev dependencies, never loads esbuild.
 */
export const STATIC_FILES = ['index.html', 'app.js', 'styles.css', 'favicon.svg'] as const;
export type StaticFile = (typeof STATIC_FILES)[number];
