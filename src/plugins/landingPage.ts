import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { EXPLORER_PATH } from '../explorer/explorerPage.js';

/** What Apollo's Sandbox page shows while (or when) Sandbox cannot load from Apollo's CDN. */
const OFFLINE_TEXT = '<p>Apollo Sandbox cannot be loaded; it appears that you might be offline.</p>';
/** Said after it: the gateway's own explorer loads from the gateway alone. */
export const EXPLORER_LINK = `<p>Offline, or behind a firewall? The gateway's own explorer needs nothing but this server: <a href="${EXPLORER_PATH}">open ${EXPLORER_PATH}</a>.</p>`;

/**
 * Apollo Sandbox at `/graphql` for browsers (`/` redirects there), as Apollo Server's local landing page embeds it
 * from Apollo's CDN, and, where the explorer is on, a link to it under Apollo's offline text: a developer without
 * internet access is told where an explorer that works offline is. Apollo's plugin has no option for that text, so
 * its page is amended; should Apollo reword it, the link goes at the end of the fallback box instead.
 */
export function sandboxLandingPage(options: { explorer: boolean }): ApolloServerPlugin<BaseContext> {
  const inner = ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false });
  if (!options.explorer) return inner;
  return {
    async serverWillStart(service) {
      const listener = await inner.serverWillStart?.(service);
      const render = listener?.renderLandingPage;
      if (listener === undefined || render === undefined) return listener;
      return {
        ...listener,
        async renderLandingPage() {
          const page = await render.call(listener);
          const html = page.html;
          return { html: async () => withExplorerLink(typeof html === 'string' ? html : await html()) };
        },
      };
    },
  };
}

function withExplorerLink(html: string): string {
  if (html.includes(OFFLINE_TEXT)) return html.replace(OFFLINE_TEXT, `${OFFLINE_TEXT}\n  ${EXPLORER_LINK}`);
  return html.replace('<div class="fallback">', `<div class="fallback">\n  ${EXPLORER_LINK}`);
}
