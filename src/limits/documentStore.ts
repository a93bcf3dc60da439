import { createHash } from 'node:crypto';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { printSchema, type DocumentNode, type GraphQLSchema } from 'graphql';

/** Apollo Server's document cache, with documents it may never evict (the trusted documents, prepared at load). */
export interface DocumentStore extends KeyValueCache<DocumentNode> {
  /** Replaces the pinned documents: parsed and validated against `schema`, by the SHA-256 of their text. */
  pin(schema: GraphQLSchema, documents: ReadonlyMap<string, DocumentNode>): void;
  /** The keys of the documents cached (not pinned), most recent first. */
  keys(): string[];
}

/**
 * Apollo Server's cache of parsed and validated documents, sized by what a document really holds. Apollo's default
 * measures a document as its AST printed to JSON, but every node's location keeps the whole source text alive: a
 * 20-token query behind a long comment counted 823 bytes while holding 900 KB, so the 30 MiB cache could hold tens of
 * gigabytes. Here the source counts too (UTF-16, two bytes a character).
 *
 * Pinned documents are found first and never evicted: a trusted request never parses or validates. Apollo keys a
 * provided store by the hash of the printed schema and the hash of the query (`generateSchemaDerivedData`); pinned
 * documents are keyed the same way, for the schema they were validated against.
 */
export function createDocumentStore(maxSizeMiB: number): DocumentStore {
  const cache = new InMemoryLRUCache<DocumentNode>({
    maxSize: maxSizeMiB * 1024 * 1024,
    sizeCalculation: (document) => InMemoryLRUCache.sizeCalculation(document) + 2 * (document.loc?.source.body.length ?? 0),
  });
  let pinned = new Map<string, DocumentNode>();
  return {
    get: async (key) => pinned.get(key) ?? cache.get(key),
    set: async (key, value, options) => {
      if (!pinned.has(key)) await cache.set(key, value, options);
    },
    delete: (key) => cache.delete(key),
    keys: () => cache.keys(),
    pin(schema, documents) {
      const prefix = `${createHash('sha256').update(printSchema(schema)).digest('hex')}:`;
      pinned = new Map([...documents].map(([hash, document]) => [`${prefix}${hash}`, document]));
    },
  };
}
