import { createHash } from 'node:crypto';
import { z } from 'zod';

/** One operation a frontend app was built with, from its persisted-query manifest. */
export interface TrustedDocument {
  /** The id clients send (`extensions.persistedQuery.sha256Hash` or `documentId`): the manifest's `id`. */
  id: string;
  name: string;
  type: 'query' | 'mutation' | 'subscription';
  body: string;
  /** SHA-256 (hex) of the body: a client sending the full document is matched by it. */
  bodyHash: string;
  /** The manifest it comes from, for messages. */
  manifest: string;
}

/** Apollo's persisted query manifest (`apollo-persisted-query-manifest`, version 1), as its generator writes it. */
const manifestSchema = z.object({
  format: z.literal('apollo-persisted-query-manifest', { error: 'must be "apollo-persisted-query-manifest"' }),
  version: z.literal(1, { error: 'must be 1' }),
  operations: z.array(
    z.object({
      id: z.string().min(1).max(256),
      name: z.string(),
      type: z.enum(['query', 'mutation', 'subscription']),
      body: z.string().min(1),
    }),
  ),
});

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Reads a manifest file's text. Throws with the manifest's path and what is wrong: a file that is not JSON, not in
 * Apollo's format, or that gives one id two different bodies.
 */
export function parseManifest(text: string, manifest: string): TrustedDocument[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${manifest} is not JSON: ${(error as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${manifest} is not an Apollo persisted query manifest: ${issue === undefined ? 'invalid' : `${issue.path.join('.') || '(top level)'} ${issue.message}`}`);
  }
  const byId = new Map<string, TrustedDocument>();
  for (const operation of parsed.data.operations) {
    const known = byId.get(operation.id);
    if (known !== undefined && known.body !== operation.body) throw new Error(`${manifest} gives the id ${operation.id} two different documents (${known.name}, ${operation.name})`);
    byId.set(operation.id, { ...operation, bodyHash: sha256Hex(operation.body), manifest });
  }
  return [...byId.values()];
}
