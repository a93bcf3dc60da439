import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import type { DocumentNode } from 'graphql';

/**
 * Apollo Server's cache of parsed and validated documents, sized by what a document really holds. Apollo's default
 * measures a document as its AST printed to JSON, but every node's location keeps the whole source text alive: a
 * 20-token query behind a long comment counted 823 bytes while holding 900 KB, so the 30 MiB cache could hold tens of
 * gigabytes. Here the source counts too (UTF-16, two bytes a character).
 */
export function createDocumentStore(maxSizeMiB: number): InMemoryLRUCache<DocumentNode> {
  return new InMemoryLRUCache<DocumentNode>({
    maxSize: maxSizeMiB * 1024 * 1024,
    sizeCalculation: (document) => InMemoryLRUCache.sizeCalculation(document) + 2 * (document.loc?.source.body.length ?? 0),
  });
}
