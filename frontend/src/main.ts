import manifest from '../persisted-query-manifest.json' with { type: 'json' };
import { createStorefrontClient } from './client.js';
import { mountStorefront, type TokenHolder } from './page.js';
import { parseRuntimeConfig, RUNTIME_CONFIG_PATH } from './runtimeConfig.js';

// The page's entry: the one place that reads the runtime config. The manifest is bundled (a few hundred bytes of
// ids per operation): the page must know every id before its first request, and one file less to serve and cache.

async function start(): Promise<void> {
  const response = await fetch(RUNTIME_CONFIG_PATH, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${RUNTIME_CONFIG_PATH} answered ${response.status}`);
  const config = parseRuntimeConfig(await response.json());
  const tokens: TokenHolder = { token: undefined };
  const client = createStorefrontClient({ graphqlUrl: config.graphqlUrl, manifest, clientVersion: STOREFRONT_VERSION, token: () => tokens.token });
  mountStorefront(document, { config, client, tokens, clientVersion: STOREFRONT_VERSION });
  document.body.dataset['state'] = 'ready';
}

start().catch((error: unknown) => {
  document.body.dataset['state'] = 'failed';
  const errors = document.getElementById('errors');
  const list = document.getElementById('error-list');
  if (errors === null || list === null) return;
  const item = document.createElement('li');
  item.dataset['testid'] = 'error';
  item.dataset['source'] = 'config';
  item.textContent = `The storefront could not start: ${error instanceof Error ? error.message : String(error)}`;
  list.append(item);
  errors.hidden = false;
});
