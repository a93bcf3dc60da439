import { parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema, type ValidationRule } from 'graphql';
import type { TrustedDocument } from './manifest.js';

export interface TrustedDocumentProblem {
  document: TrustedDocument;
  /** What parsing or validation said, first error first. */
  errors: readonly string[];
}

/**
 * Parses and validates every trusted document against a schema, with graphql-js's rules and the gateway's own (the
 * document limits): what Apollo Server would do to each on its first request. Valid documents come back parsed, by the
 * hash of their body; the others with what is wrong, so that a schema change that breaks a shipped operation is told
 * at load and in CI.
 */
export function validateTrustedDocuments(
  schema: GraphQLSchema,
  documents: readonly TrustedDocument[],
  options: { rules?: readonly ValidationRule[]; maxTokens?: number } = {},
): { valid: Map<string, DocumentNode>; problems: TrustedDocumentProblem[] } {
  const valid = new Map<string, DocumentNode>();
  const problems: TrustedDocumentProblem[] = [];
  for (const document of documents) {
    let parsed: DocumentNode;
    try {
      parsed = parse(document.body, options.maxTokens === undefined ? {} : { maxTokens: options.maxTokens });
    } catch (error) {
      problems.push({ document, errors: [(error as Error).message] });
      continue;
    }
    const errors = validate(schema, parsed, [...specifiedRules, ...(options.rules ?? [])]);
    if (errors.length > 0) problems.push({ document, errors: errors.map((error) => error.message) });
    else valid.set(document.bodyHash, parsed);
  }
  return { valid, problems };
}
