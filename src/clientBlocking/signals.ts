import { ApolloServerErrorCode } from '@apollo/server/errors';
import { ErrorCode } from '../errors.js';

/**
 * What a request did that a well-behaved client does not, each with a weight in the client's suspicion score:
 * - `credentials`: a token that was refused (401): malformed, expired, forged, for another audience;
 * - `forbidden`: the policy denied a field or the operation (403 / FORBIDDEN);
 * - `invalid`: a document that does not parse or validate, or variables that do not fit it: probing for names that
 *   exist ("Cannot query field …") looks like this; so does a request that is not a GraphQL request at all (a body
 *   that is not JSON, `variables` that are not an object, a persisted query whose hash is not its document's);
 * - `limit`: a limit refused the request (depth, cost, aliases, root fields, directives, expansion, body or document
 *   size, selection pairs, aliases that shadow fields); never a connection refused before it carried a request (a
 *   timeout, headers too large, over MAX_CONNECTIONS_PER_CLIENT), which browsers do on their own or a web page can
 *   make its visitors' browsers do (src/http/httpServer.ts);
 * - `untrusted`: a document not in the trusted list, refused;
 * - `rateLimited`: a request over the caller's rate budget (a client that ignores Retry-After).
 */
export const SUSPICION_SIGNALS = ['credentials', 'forbidden', 'invalid', 'limit', 'untrusted', 'rateLimited'] as const;
export type SuspicionSignal = (typeof SUSPICION_SIGNALS)[number];

/**
 * The default weights, against a default threshold of 100 within a minute: a prober sending unknown fields is blocked
 * after 10, a token forger after 10, a limit tester after 5; an app whose users are denied a field now and then, or
 * which runs into its rate limit and backs off, never is. One request never blocks (the configuration refuses a
 * weight as large as the threshold).
 */
export const DEFAULT_SIGNAL_WEIGHTS: Readonly<Record<SuspicionSignal, number>> = {
  credentials: 10,
  forbidden: 3,
  invalid: 10,
  limit: 20,
  untrusted: 10,
  rateLimited: 5,
};

/**
 * The signals a repeat of the same thing (the same document, the same token) counts once per decay window: probing
 * varies what it sends, while an app that keeps sending one document its user may not read, or one expired token, is
 * broken or denied, not an attacker. Every limit refusal and every request over the budget count: each is work the
 * gateway does again, and a client that repeats one after its refusal is ignoring it.
 */
export const COUNTED_ONCE_WHEN_REPEATED: ReadonlySet<SuspicionSignal> = new Set(['credentials', 'forbidden', 'invalid', 'untrusted']);

/** Apollo's introspection refusal is a validation error with this code: probing, not a limit. */
const INTROSPECTION_DISABLED = 'INTROSPECTION_DISABLED';

/**
 * The signal an error of an answer stands for, by its stable codes only, or undefined for an error that says nothing
 * about the client (a subgraph that failed, a user input error from a resolver, a persisted query to register).
 */
export function signalOfError(extensions: Readonly<Record<string, unknown>> | undefined, hasPath: boolean): SuspicionSignal | undefined {
  const code = extensions?.['code'];
  switch (code) {
    case ErrorCode.Unauthenticated:
      return 'credentials';
    case ErrorCode.Forbidden:
      return 'forbidden';
    case ErrorCode.RateLimited:
      return 'rateLimited';
    case ErrorCode.PersistedQueryNotInList:
      return 'untrusted';
    case ErrorCode.PayloadTooLarge:
      return 'limit';
    case ApolloServerErrorCode.GRAPHQL_PARSE_FAILED:
      return 'invalid';
    case ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED: {
      // The gateway's own refusals carry the reason in `validationErrorCode`; graphql-js's rules carry none.
      const reason = extensions?.['validationErrorCode'];
      return typeof reason === 'string' && reason !== INTROSPECTION_DISABLED ? 'limit' : 'invalid';
    }
    case ApolloServerErrorCode.BAD_USER_INPUT:
      // Without a path it is the variables that do not fit the operation; with one, a resolver's answer to its input.
      return hasPath ? undefined : 'invalid';
    case ApolloServerErrorCode.BAD_REQUEST:
    case ErrorCode.PersistedQueryHashMismatch:
      // Counted from the answer (signalOfRefusedRequest), where every one of them shows, and so never twice.
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Codes of the answers that say a request was not a GraphQL request the gateway could read: BAD_REQUEST (most of them
 * given by Apollo Server before its request pipeline, so before any plugin hears of them) and
 * PERSISTED_QUERY_HASH_MISMATCH (the gateway's code for Apollo's refusal of a hash that is not the document's, given
 * to the answer after the plugins saw that refusal without a code).
 */
const UNREADABLE_REQUEST_CODES: ReadonlySet<string> = new Set([ApolloServerErrorCode.BAD_REQUEST, ErrorCode.PersistedQueryHashMismatch]);

/** The signal of an answer Apollo Server gave, by the codes of its errors as the client reads them (see UNREADABLE_REQUEST_CODES). */
export function signalOfRefusedRequest(codes: readonly string[]): SuspicionSignal | undefined {
  return codes.some((code) => UNREADABLE_REQUEST_CODES.has(code)) ? 'invalid' : undefined;
}

/** The heaviest signal among an answer's errors: one request counts once, as the worst thing it did. */
export function signalOfErrors(
  errors: readonly { extensions?: Readonly<Record<string, unknown>> | undefined; path?: readonly unknown[] | undefined }[],
  weights: Readonly<Record<SuspicionSignal, number>>,
): SuspicionSignal | undefined {
  let worst: SuspicionSignal | undefined;
  for (const error of errors) {
    const signal = signalOfError(error.extensions, error.path !== undefined);
    if (signal !== undefined && (worst === undefined || weights[signal] > weights[worst])) worst = signal;
  }
  return worst;
}
