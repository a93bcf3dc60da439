import { createHash } from 'node:crypto';
import { parse, type DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { CacheHints } from './cacheHints.js';
import { cachePolicy, isPublic, type CachePolicy } from './cachePolicy.js';
import type { CacheLookup, CacheMiss, CacheStore } from './cacheStore.js';

/** Fetch documents whose policy is kept per supergraph: they come from query plans, so there are about as many. */
const MAX_FETCH_POLICIES = 10_000;

/** What the data sources need to know of a subgraph fetch before they send it. */
export type FetchDecision =
  | { readonly kind: 'private' }
  /** Shared between callers (sent as anonymous, deduplicated across callers), and cached when a store is configured. */
  | {
      readonly kind: 'public';
      readonly policy: CachePolicy;
      /** The versions its cached answer depends on: its types', and the one every answer depends on. */
      readonly dependsOn: readonly string[];
    }
  /** Its answer tells the cache what changed. */
  | { readonly kind: 'mutation'; readonly types: readonly string[] | 'all' };

const PRIVATE: FetchDecision = { kind: 'private' };

export interface PublicDataOptions {
  /** Absent: public fetches are shared and deduplicated, never kept (`cache.mode: off`). */
  store?: CacheStore;
  /** Prefix of every cache key. */
  keyPrefix: string;
  onLookup?: (result: 'hit' | 'miss') => void;
}

export interface PublicData {
  /** A new supergraph: its hints decide from now on, and what was cached for the previous one is dropped. */
  prepare(supergraph: { sdl: string; hints: CacheHints }): void;
  /** The hints the served supergraph declares (undefined before the first load). */
  hints(): CacheHints | undefined;
  /** What a subgraph fetch is, decided once per document text (and supergraph). */
  decide(query: string, document?: DocumentNode): FetchDecision;
  /** Whether public answers are kept at all. */
  readonly caching: boolean;
  /** The cache key of a public fetch: the subgraph, the document, the variables and the headers passed on; never who asks. */
  key(subgraph: string, query: string, variables: unknown, forwarded: Readonly<Record<string, string>>): string;
  lookup(key: string, decision: Extract<FetchDecision, { kind: 'public' }>): Promise<CacheLookup | undefined>;
  store(key: string, body: string, policy: CachePolicy, miss: CacheMiss): Promise<void>;
  changed(types: readonly string[] | 'all'): Promise<void>;
  close(): Promise<void>;
}

/**
 * The public data of the served supergraph: which subgraph fetches every caller may share (every field they select
 * is PUBLIC, with a maxAge above 0, by the subgraphs' `@cacheControl` hints), and the cache of their answers. The
 * cache sits inside the data sources, under the query plan: authorization, before and after the plan, applies to a
 * cached answer exactly as to a fresh one, so the cache never decides access.
 */
/** Variables and passed-on headers up to this many characters go into a cache key as they are; longer ones, hashed. */
const MAX_PLAIN_KEY_PART = 256;
/** The version every cached answer depends on besides its types': bumped by a mutation of unknown reach. No type is named `*`. */
const EVERYTHING = '*';

export function createPublicData(options: PublicDataOptions): PublicData {
  const { store } = options;
  let current: { id: string; hints: CacheHints; decisions: LRUCache<string, FetchDecision> } | undefined;
  const documentHashes = new LRUCache<string, string>({ max: MAX_FETCH_POLICIES });

  return {
    caching: store !== undefined,
    prepare({ sdl, hints }) {
      const previous = current;
      current = { id: createHash('sha256').update(sdl).digest('hex').slice(0, 16), hints, decisions: new LRUCache({ max: MAX_FETCH_POLICIES }) };
      if (previous !== undefined && previous.id !== current.id) store?.clear();
    },
    hints: () => current?.hints,
    decide(query, document) {
      if (current === undefined) return PRIVATE;
      const known = current.decisions.get(query);
      if (known !== undefined) return known;
      let decision: FetchDecision;
      try {
        const policy = cachePolicy(current.hints, document ?? parse(query));
        if (policy === undefined) decision = /^\s*mutation\b/.test(query) ? { kind: 'mutation', types: 'all' } : PRIVATE;
        // A mutation whose answer names no type (`deleteReview: Boolean`) could have changed anything: all goes.
        else if (policy.operation === 'mutation') decision = { kind: 'mutation', types: policy.types.length > 0 ? policy.types : 'all' };
        else decision = isPublic(policy) ? { kind: 'public', policy, dependsOn: [...policy.types, EVERYTHING] } : PRIVATE;
      } catch {
        decision = PRIVATE;
      }
      current.decisions.set(query, decision);
      return decision;
    },
    key(subgraph, query, variables, forwarded) {
      // The document's hash once per document (fetch documents are few and repeat); the variables and headers, short as
      // they mostly are, as they are: hashing every fetch's key cost more than the lookup it serves.
      let documentHash = documentHashes.get(query);
      if (documentHash === undefined) {
        documentHash = createHash('sha256').update(query).digest('base64url');
        documentHashes.set(query, documentHash);
      }
      let rest = `${stableJson(variables ?? null)}\n${stableJson(forwarded)}`;
      if (rest.length > MAX_PLAIN_KEY_PART) rest = createHash('sha256').update(rest).digest('base64url');
      return `${options.keyPrefix}:${current?.id ?? 'none'}:${subgraph}:${documentHash}:${rest}`;
    },
    async lookup(key, decision) {
      if (store === undefined) return undefined;
      const result = await store.lookup(key, decision.dependsOn);
      options.onLookup?.(result.hit ? 'hit' : 'miss');
      return result;
    },
    async store(key, body, policy, miss) {
      await store?.store(key, body, policy.maxAge, miss);
    },
    async changed(types) {
      // 'all' is one version every answer depends on, so it evicts on every replica what any of them cached, whatever
      // this one has seen. Any mutation evicts what the query root stands for (root scalars: no type says what they
      // depend on).
      await store?.changed(types === 'all' ? [EVERYTHING] : [...types, ...(current === undefined ? [] : [current.hints.roots.query])]);
    },
    async close() {
      await store?.close();
    },
  };
}

/** JSON with object keys sorted, so that equal variables make equal keys whatever order the planner wrote them in. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, entry]) => entry !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([name, entry]) => `${JSON.stringify(name)}:${stableJson(entry)}`).join(',')}}`;
}
