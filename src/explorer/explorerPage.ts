/** Where the explorer is served, and its files. */
export const EXPLORER_PATH = '/explorer';
export const EXPLORER_ASSETS_PATH = `${EXPLORER_PATH}/assets/`;

/**
 * The explorer's Content-Security-Policy, on the page and on each of its files (a web worker runs under the policy
 * its script was served with). Everything from the gateway's own origin, nothing from anywhere else:
 * - `script-src 'self'`: no inline script (the start script is a file) and no `unsafe-eval`, which neither GraphiQL
 *   nor Monaco needs (their bundles hold no eval or `new Function`);
 * - `style-src 'self' 'unsafe-inline'`: Monaco and GraphiQL's components write `<style>` elements and style
 *   attributes as they render (cursor, decorations, panes), for which no nonce can be given; styles run no code;
 * - `img-src`/`font-src` also `data:`: the stylesheet carries its fonts and icons inline;
 * - `connect-src 'self'`: the page talks to /graphql here and nowhere else;
 * - `frame-ancestors 'none'`: no site may frame it (clickjacking), and no base, form target or plugin.
 */
export const EXPLORER_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The explorer's page: GraphiQL's stylesheet and bundle, the gateway's start script, and the element it renders into,
 * whose attributes tell it where the GraphQL endpoint and the files are. Static: the same for every caller, so it
 * holds nothing of the schema or of the caller (the explorer learns the schema by introspection, as the caller).
 */
export function explorerPage(options: { graphqlPath: string }): string {
  const asset = (name: string) => `${EXPLORER_ASSETS_PATH}${name}`;
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Explorer · GraphQL gateway</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="${asset('graphiql.css')}">
    <script src="${asset('graphiql.js')}" defer></script>
    <script src="${asset('explorer.js')}" defer></script>
  </head>
  <body>
    <noscript>The explorer needs JavaScript.</noscript>
    <div id="explorer" data-endpoint="${options.graphqlPath}" data-assets="${EXPLORER_ASSETS_PATH}"></div>
  </body>
</html>
`;
}
