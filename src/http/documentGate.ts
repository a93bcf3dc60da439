import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { GraphQLError, Kind, parse, visit, type SelectionSetNode } from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { ErrorCode, errorBody } from '../errors.js';
import type { GraphQLHandler } from '../common/graphqlHandler.js';

export interface DocumentGateOptions {
  /** Characters of one document (MAX_QUERY_LENGTH), or off. */
  maxQueryLength: number | 'off';
  /** Parser tokens (MAX_TOKENS), or off: the gate parses with the same bound Apollo does. */
  maxTokens: number | 'off';
  /** Pairs of selections graphql-js must compare for overlap (MAX_SELECTION_PAIRS). */
  maxSelectionPairs: number;
  /** Told of each refusal, with the reason for the metrics. */
  onRefused: (reason: 'size' | 'validation', request: FastifyRequest) => void;
}

/** Documents recently let through: the gate parses a document once, not once per request. */
const REMEMBERED = 10_000;
/** Characters up to which a document is remembered by its text (at most REMEMBERED × this, 20 MB, held). */
const SHORT_DOCUMENT = 2_048;

/**
 * Refuses, before Apollo Server parses or validates anything, the documents whose validation alone would be costly:
 * - longer than MAX_QUERY_LENGTH characters: 413 PAYLOAD_TOO_LARGE. Tokens do not count whitespace, comments or long
 *   string literals, and a parsed document keeps its whole source text alive in the caches;
 * - that make graphql-js's OverlappingFieldsCanBeMerged rule compare more than MAX_SELECTION_PAIRS pairs of
 *   selections: 400 GRAPHQL_VALIDATION_FAILED, `MAX_SELECTION_PAIRS_EXCEEDED`. That rule runs in Apollo's first
 *   validation pass, before any of the gateway's own rules, and is quadratic in the fields sharing a response key in
 *   one selection set and in the fragments spread in one: `{ topProducts { name } topProducts { name } ... }` 490 times
 *   (10 KB, within the token limit) costs 53 ms of CPU, and 20 a second cut the gateway's throughput to 0.15x.
 * Counting is linear in the document; a document that does not parse is left to Apollo, which says why.
 */
export function documentGate(handler: GraphQLHandler, options: DocumentGateOptions): GraphQLHandler {
  const passed = new Set<string>();
  return async (request, reply) => {
    const query = queryOf(request.body, request.query);
    if (query === undefined) return handler(request, reply);
    if (options.maxQueryLength !== 'off' && query.length > options.maxQueryLength) {
      options.onRefused('size', request);
      return reply.code(413).send(errorBody(ErrorCode.PayloadTooLarge, `The GraphQL document is longer than ${options.maxQueryLength} characters`));
    }
    // A short document is its own key (a map hashes it far faster than SHA-256); a long one is kept by its hash, so
    // that what is remembered stays small.
    const key = query.length <= SHORT_DOCUMENT ? query : createHash('sha256').update(query).digest('base64');
    if (passed.has(key)) return handler(request, reply);
    const pairs = selectionPairs(query, options.maxTokens);
    if (pairs !== undefined && pairs > options.maxSelectionPairs) {
      options.onRefused('validation', request);
      const error = new GraphQLError('The operation selects too many overlapping fields or fragments in one selection set', {
        extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED, validationErrorCode: 'MAX_SELECTION_PAIRS_EXCEEDED' },
      });
      return reply.code(400).send({ errors: [error.toJSON()] });
    }
    if (passed.size >= REMEMBERED) passed.delete(passed.values().next().value as string);
    passed.add(key);
    return handler(request, reply);
  };
}

/** The GraphQL document a request carries, in its JSON body or its query string; undefined when it has none. */
export function queryOf(body: unknown, search: unknown): string | undefined {
  const fromBody = typeof body === 'object' && body !== null ? (body as { query?: unknown }).query : undefined;
  const fromUrl = typeof search === 'object' && search !== null ? (search as { query?: unknown }).query : undefined;
  return typeof fromBody === 'string' ? fromBody : typeof fromUrl === 'string' ? fromUrl : undefined;
}

/**
 * The pairs graphql-js's overlap rule compares, counted on the document as written: in each selection set (inline
 * fragments merged into it, as the rule collects them), every two fields of one response key and every two fragment
 * spreads. Undefined when the document does not parse.
 */
export function selectionPairs(query: string, maxTokens: number | 'off'): number | undefined {
  let document;
  try {
    document = parse(query, { noLocation: true, ...(maxTokens === 'off' ? {} : { maxTokens }) });
  } catch {
    return undefined;
  }
  let pairs = 0;
  // Every selection set once (the rule visits each), with the inline fragments in it merged, as the rule collects
  // them; a field's own selection set is its own visit, not part of its parent's.
  visit(document, {
    SelectionSet(selectionSet) {
      const keys = new Map<string, number>();
      let spreads = 0;
      const collect = (set: SelectionSetNode): void => {
        for (const selection of set.selections) {
          if (selection.kind === Kind.FIELD) {
            const key = selection.alias?.value ?? selection.name.value;
            const seen = keys.get(key) ?? 0;
            pairs += seen;
            keys.set(key, seen + 1);
          } else if (selection.kind === Kind.INLINE_FRAGMENT) {
            collect(selection.selectionSet);
          } else {
            pairs += spreads;
            spreads += 1;
          }
        }
      };
      collect(selectionSet);
    },
  });
  return pairs;
}
