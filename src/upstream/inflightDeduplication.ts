import type { FetcherRequestInit, SubgraphResponse } from './subgraphResponse.js';

type Fetch = (url: string, init?: FetcherRequestInit) => Promise<SubgraphResponse>;

/** Headers that differ per request without changing the answer: not part of the key. */
const NOT_IN_KEY = new Set(['x-request-id']);

/**
 * Shares one subgraph round trip between identical requests in flight at the same moment: same URL, same body (query
 * and variables) and same headers, including the credentials (the token the gateway minted for the caller, or the
 * caller's own token for a `forward` subgraph), so that two callers whose identity differs never share an answer. A
 * public fetch (src/cache/publicData.ts) carries the anonymous caller's token whoever asked, so it is shared between
 * every caller: the identity is out of its key because it is out of the request. The
 * key holds those credentials, so it lives only in this map and is never logged. Mutations are never shared. Every
 * caller gets a Response of its own: a clone of the answer, read whole, which each caller parses for itself. Requests
 * that arrive after the answer are not served from it: this is deduplication, not a cache.
 */
export function deduplicateInflight(fetch: Fetch, onShared?: () => void): Fetch {
  const inflight = new Map<string, Promise<SubgraphResponse>>();
  return async (url, init = {}) => {
    const body = typeof init.body === 'string' ? init.body : undefined;
    if (body === undefined || init.method !== 'POST' || isMutation(body)) return fetch(url, init);
    const headers = Object.entries(init.headers ?? {})
      .filter(([name]) => !NOT_IN_KEY.has(name.toLowerCase()))
      .map(([name, value]) => `${name.toLowerCase()}:${value}`)
      .sort()
      .join('\n');
    const key = `${url}\n${headers}\n${body}`;

    let shared = inflight.get(key);
    if (shared === undefined) {
      shared = fetch(url, init);
      inflight.set(key, shared);
      const forget = () => inflight.delete(key);
      shared.then(forget, forget);
    } else {
      onShared?.();
    }
    return (await shared).clone();
  };
}

/** Whether a GraphQL request body holds a mutation (the gateway sends one operation per subgraph request). */
function isMutation(body: string): boolean {
  const query = /"query"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(body)?.[1] ?? '';
  return /^\s*mutation\b/.test(query);
}
