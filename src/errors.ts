import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { isSubgraphFailure, type SubgraphFailure } from './upstream/subgraphErrors.js';

/**
 * Every `extensions.code` this gateway sends. Clients may rely on these; the message text may change.
 * Apollo Server's own codes (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT, ...) are kept as they are.
 */
export const ErrorCode = {
  /** Something failed that the client cannot fix; details are only in the gateway's log, under the request id. */
  InternalServerError: 'INTERNAL_SERVER_ERROR',
  /** A subgraph this request needed could not be reached or did not answer in time; retrying later may work. */
  ServiceUnavailable: 'SERVICE_UNAVAILABLE',
  /** The caller has used up their rate limit budget; `Retry-After` says when to come back. */
  RateLimited: 'RATE_LIMITED',
  /** The client behaved like an attacker (probing, forged tokens, limits) and is shut out until `Retry-After`. */
  ClientBlocked: 'CLIENT_BLOCKED',
  /** The caller may not read this field or run this operation. */
  Forbidden: 'FORBIDDEN',
  /** The request's credentials are missing (where required), malformed, or not valid. */
  Unauthenticated: 'UNAUTHENTICATED',
  /** The gateway has no supergraph loaded yet, or is shutting down. */
  NotReady: 'NOT_READY',
  BadRequest: 'BAD_REQUEST',
  NotFound: 'NOT_FOUND',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  /** The answer had more than MAX_ERRORS errors; this one stands for those left out. */
  TooManyErrors: 'TOO_MANY_ERRORS',
  /** An automatic persisted query whose `sha256Hash` is not the hash of the query sent with it. */
  PersistedQueryHashMismatch: 'PERSISTED_QUERY_HASH_MISMATCH',
  /** TRUSTED_DOCUMENTS=enforce, and the request's document (by id, hash or text) is not in the trusted list. */
  PersistedQueryNotInList: 'PERSISTED_QUERY_NOT_IN_LIST',
  /** The request (headers, or headers and body) did not arrive within REQUEST_TIMEOUT_MS / HEADERS_TIMEOUT_MS. */
  RequestTimeout: 'REQUEST_TIMEOUT',
  /** The request's headers exceed Node's limit (16 KiB in all). */
  RequestHeaderFieldsTooLarge: 'REQUEST_HEADER_FIELDS_TOO_LARGE',
  /** The client's address already holds MAX_CONNECTIONS_PER_CLIENT open connections; the new one is closed. */
  TooManyConnections: 'TOO_MANY_CONNECTIONS',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The body of a non-GraphQL error response (404, 413, 503 ...), shaped like a GraphQL response so clients parse one format. */
export function errorBody(code: ErrorCode, message: string): { errors: GraphQLFormattedError[] } {
  return { errors: [{ message, extensions: { code } }] };
}


/**
 * Codes of errors about the client's own request (raised by Apollo Server or by this gateway before execution); their
 * messages describe that request only, so they reach the client as they are.
 */
const PUBLIC_REQUEST_CODES: ReadonlySet<string> = new Set([
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.BAD_USER_INPUT,
  ApolloServerErrorCode.BAD_REQUEST,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
  ErrorCode.Forbidden,
  ErrorCode.RateLimited,
  ErrorCode.TooManyErrors,
  ErrorCode.PersistedQueryHashMismatch,
  ErrorCode.PersistedQueryNotInList,
]);

/** Codes of errors that are about the client's request, not a failure of the gateway or a subgraph. */
export function isClientErrorCode(code: unknown): boolean {
  return typeof code === 'string' && PUBLIC_REQUEST_CODES.has(code);
}

/**
 * Apollo Server's `formatError`: what a client may see of an error. It never throws.
 *
 * The gateway relays subgraph errors with `serviceName` and the subgraph's own message, and reports a failed fetch
 * with the subgraph's URL in the message: both can carry internals (hostnames, SQL, stack traces). So a subgraph's
 * error keeps its message only when its code is on the public list, a failed fetch becomes SERVICE_UNAVAILABLE or
 * INTERNAL_SERVER_ERROR by its kind (`subgraphFailureCode`), and anything unexpected INTERNAL_SERVER_ERROR. The full error is logged under the request id (plugins/errorLogging.ts).
 */
export function createFormatError(options: {
  /** Codes a subgraph may send that reach the client with their message: the caller's own mistakes. */
  publicSubgraphCodes: readonly string[];
  /** Production hides limit values, which graphql-js's token limit puts in its message. */
  showLimitValues: boolean;
}): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  const publicSubgraphCodes = new Set(options.publicSubgraphCodes);
  return (formatted, error) => {
    const masked = boundedMessage(formatError(formatted, error, publicSubgraphCodes));
    // graphql-js's own wording ("more that N tokens", sic): the only place the parser states its limit.
    if (!options.showLimitValues && masked.extensions?.['code'] === ApolloServerErrorCode.GRAPHQL_PARSE_FAILED && /contains more (?:than|that) \d+ tokens/.test(masked.message)) {
      return { ...masked, message: 'Syntax Error: Document contains too many tokens. Parsing aborted.' };
    }
    return masked;
  };
}

/** Longest message a client gets: graphql-js quotes a bad variable's value in full, twice. */
const MAX_MESSAGE_LENGTH = 500;

export function boundedMessage(formatted: GraphQLFormattedError): GraphQLFormattedError {
  const message: unknown = formatted.message;
  if (typeof message !== 'string') return { ...formatted, message: 'Internal server error' };
  if (message.length <= MAX_MESSAGE_LENGTH) return formatted;
  // By code points: a cut through a surrogate pair would leave a string that is not well-formed.
  return { ...formatted, message: `${Array.from(message).slice(0, MAX_MESSAGE_LENGTH).join('')}…` };
}

/**
 * Errors the access policy itself returned (a rule's `new GraphQLError('No review with this id', { extensions: {
 * code: 'NOT_FOUND' } })`): written by whoever owns the policy for the caller, so they reach the caller as they are.
 */
const policyErrors = new WeakSet<object>();

/** Marks an error as the access policy's own answer to the caller (see `policyErrors`), and returns it. */
export function policyError<T extends GraphQLError>(error: T): T {
  policyErrors.add(error);
  return error;
}

function isPolicyError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (policyErrors.has(error)) return true;
  return error instanceof GraphQLError && error.originalError !== undefined && policyErrors.has(error.originalError);
}

function formatError(formatted: GraphQLFormattedError, error: unknown, publicSubgraphCodes: ReadonlySet<string>): GraphQLFormattedError {
  const extensions = formatted.extensions ?? {};
  const code = typeof extensions['code'] === 'string' ? extensions['code'] : undefined;
  const where = {
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
  };

  if (typeof extensions['serviceName'] === 'string') {
    if (code !== undefined && publicSubgraphCodes.has(code)) return { message: formatted.message, ...where, extensions: { code } };
  } else if (code !== undefined && (PUBLIC_REQUEST_CODES.has(code) || isPolicyError(error))) {
    const { stacktrace: _stacktrace, ...rest } = extensions;
    return { ...formatted, extensions: rest };
  }
  const failure = subgraphFailureCode(error);
  if (failure === ErrorCode.ServiceUnavailable) {
    return { message: 'A service needed for this field is unavailable', ...where, extensions: { code: ErrorCode.ServiceUnavailable } };
  }
  return { message: 'Internal server error', ...where, extensions: { code: ErrorCode.InternalServerError } };
}

/** Statuses by which a subgraph (or a proxy in front of it) says it cannot answer now: a retry later may work. */
const UNAVAILABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * What a client is told of a failed HTTP exchange with a subgraph, by the error's class (src/upstream/subgraphErrors.ts):
 * SERVICE_UNAVAILABLE when it could not be reached, did not answer in time, or said it cannot answer now;
 * INTERNAL_SERVER_ERROR when it answered something the gateway cannot use (any other non-2xx, an answer over the
 * size cap). Undefined for an error that is not such a failure.
 */
function subgraphFailureCode(error: unknown): ErrorCode | undefined {
  const original = error instanceof GraphQLError ? error.originalError : error;
  if (isSubgraphFailure(original)) return codeOfSubgraphFailure(original);
  // An abort's reason (AbortSignal.timeout, an aborted fetch) is a DOMException, whose kind the standard gives by name.
  return original instanceof DOMException && (original.name === 'TimeoutError' || original.name === 'AbortError') ? ErrorCode.ServiceUnavailable : undefined;
}

function codeOfSubgraphFailure(failure: SubgraphFailure): ErrorCode {
  switch (failure.code) {
    case 'SUBGRAPH_UNREACHABLE':
    case 'SUBGRAPH_TIMEOUT':
      return ErrorCode.ServiceUnavailable;
    case 'SUBGRAPH_HTTP_STATUS':
      return UNAVAILABLE_STATUSES.has(failure.status) ? ErrorCode.ServiceUnavailable : ErrorCode.InternalServerError;
    case 'SUBGRAPH_RESPONSE_TOO_LARGE':
      return ErrorCode.InternalServerError;
    default: {
      // formatError never throws: a kind added without a case here fails the type check, and is masked meanwhile.
      const unknown: never = failure;
      void unknown;
      return ErrorCode.InternalServerError;
    }
  }
}

/**
 * The answer to a request whose operation could not be resolved (an operationName of "" makes graphql-js find none,
 * while the gateway's planner would still run the document's only operation): a 400, before anything runs.
 */
export function unresolvedOperation(): GraphQLError {
  return new GraphQLError('The operation to run could not be determined: send operationName naming one of the document\'s operations, or none for a single operation', {
    extensions: { code: ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE, http: { status: 400 } },
  });
}
