import { GraphQLError, locatedError, parse, type GraphQLFormattedError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createFormatError, policyError } from '../src/errors.js';
import { SubgraphStatusError, SubgraphTimeoutError, SubgraphUnreachableError } from '../src/upstream/subgraphErrors.js';

// Apollo Server's formatError hook, called as Apollo calls it: (the formatted error, the error behind it). What a
// client gets through a real gateway is tested in gateway.test.ts and productionMode.test.ts; here, each rule alone.

const production = createFormatError({ publicSubgraphCodes: ['BAD_USER_INPUT', 'NOT_FOUND'], showLimitValues: false });
const development = createFormatError({ publicSubgraphCodes: ['BAD_USER_INPUT', 'NOT_FOUND'], showLimitValues: true });

const STACK = ['GraphQLError: boom', '    at resolve (/srv/accounts/src/resolvers.ts:42:11)'];
const locations = [{ line: 1, column: 3 }];
const path = ['user', 'email'];

/** What Apollo Server formats from an error: its JSON, with a stack trace as development mode adds it. */
function formattedOf(error: GraphQLError): GraphQLFormattedError {
  const json = error.toJSON();
  return { ...json, extensions: { ...json.extensions, stacktrace: STACK } };
}

/** An error as the gateway relays it from a subgraph: the subgraph's message and code, and `serviceName`. */
function fromSubgraph(message: string, extensions: Record<string, unknown>): [GraphQLFormattedError, GraphQLError] {
  const error = new GraphQLError(message, { path, extensions: { ...extensions, serviceName: 'accounts' } });
  return [{ ...formattedOf(error), locations }, error];
}

/** A failed HTTP exchange with a subgraph as the gateway reports it: the URL in the message, the failure as the cause. */
function failedFetch(cause: Error): [GraphQLFormattedError, GraphQLError] {
  const error = new GraphQLError(cause.message, { path: ['me'], originalError: cause });
  return [{ ...formattedOf(error), locations }, error];
}
const REFUSED = 'request to http://accounts.internal:4001/graphql failed, reason: connect ECONNREFUSED 10.0.0.7:4001';
const unreachable = () => new SubgraphUnreachableError('accounts', REFUSED);
/** An error that only calls itself what a fetch library's failure is called: not one by class. */
const namedOnly = (name: string) => Object.assign(new Error(REFUSED), { name });

const internal = (where: Partial<GraphQLFormattedError> = {}): GraphQLFormattedError => ({ message: 'Internal server error', ...where, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
const unavailable = (where: Partial<GraphQLFormattedError>): GraphQLFormattedError => ({ message: 'A service needed for this field is unavailable', ...where, extensions: { code: 'SERVICE_UNAVAILABLE' } });

const noReview = () => policyError(new GraphQLError('No review with this id', { extensions: { code: 'NOT_FOUND' } }));
const tokenLimit = (word: 'than' | 'that') =>
  new GraphQLError(`Syntax Error: Document contains more ${word} 2000 tokens. Parsing aborted.`, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
const validation = new GraphQLError('Cannot query field "nope" on type "Query".', {
  nodes: parse('{ nope }').definitions,
  extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_DEPTH_EXCEEDED' },
});
const located = locatedError(noReview(), undefined, ['deleteReview']);

describe('createFormatError: what a client gets of an error', () => {
  it.each<[string, () => [GraphQLFormattedError, unknown], GraphQLFormattedError]>([
    [
      'a subgraph error with a public code keeps its message and code, without serviceName or stacktrace',
      () => fromSubgraph('No user with id 7', { code: 'NOT_FOUND' }),
      { message: 'No user with id 7', locations, path, extensions: { code: 'NOT_FOUND' } },
    ],
    [
      'a subgraph error with another public code, and extensions of its own, keeps only the code',
      () => fromSubgraph('first must be at most 100', { code: 'BAD_USER_INPUT', argument: 'first', hint: 'internal detail' }),
      { message: 'first must be at most 100', locations, path, extensions: { code: 'BAD_USER_INPUT' } },
    ],
    [
      'a subgraph error with a code not on the public list is masked, its path kept',
      () => fromSubgraph('relation "users" does not exist (SQL: SELECT * FROM users)', { code: 'DATABASE_ERROR' }),
      internal({ locations, path }),
    ],
    [
      'a subgraph error with no code is masked',
      () => fromSubgraph('TypeError: cannot read properties of undefined', {}),
      internal({ locations, path }),
    ],
    [
      'a subgraph\'s own GRAPHQL_VALIDATION_FAILED is masked: only the public subgraph codes pass from a subgraph',
      () => fromSubgraph('Cannot query field "secret" on type "_Entity" at accounts.internal', { code: 'GRAPHQL_VALIDATION_FAILED' }),
      internal({ locations, path }),
    ],
    ['a subgraph that could not be reached becomes SERVICE_UNAVAILABLE with its path kept, without the URL', () => failedFetch(unreachable()), unavailable({ locations, path: ['me'] })],
    ['a subgraph past its deadline becomes SERVICE_UNAVAILABLE', () => failedFetch(new SubgraphTimeoutError('accounts', 500)), unavailable({ locations, path: ['me'] })],
    ['a subgraph answering 503 becomes SERVICE_UNAVAILABLE', () => failedFetch(new SubgraphStatusError('accounts', 503, 'busy')), unavailable({ locations, path: ['me'] })],
    ['a subgraph answering 500 is masked as internal', () => failedFetch(new SubgraphStatusError('accounts', 500, 'oops')), internal({ locations, path: ['me'] })],
    [
      'a TimeoutError DOMException (AbortSignal.timeout\'s reason), not wrapped, becomes SERVICE_UNAVAILABLE',
      () => [{ message: 'The operation was aborted due to timeout', path: ['me'] }, new DOMException('The operation was aborted due to timeout', 'TimeoutError')],
      unavailable({ path: ['me'] }),
    ],
    ['an AbortError DOMException becomes SERVICE_UNAVAILABLE', () => failedFetch(new DOMException('This operation was aborted', 'AbortError')), unavailable({ locations, path: ['me'] })],
    [
      'a failure relayed with serviceName and a non-public code becomes SERVICE_UNAVAILABLE',
      () => {
        const [formatted, error] = failedFetch(unreachable());
        return [{ ...formatted, extensions: { ...formatted.extensions, code: 'INTERNAL_SERVER_ERROR', serviceName: 'accounts' } }, error];
      },
      unavailable({ locations, path: ['me'] }),
    ],
    ['an Error that merely calls itself FetchError is not a failed fetch: masked', () => failedFetch(namedOnly('FetchError')), internal({ locations, path: ['me'] })],
    ['an Error that merely calls itself TimeoutError is not a timeout: masked', () => failedFetch(namedOnly('TimeoutError')), internal({ locations, path: ['me'] })],
    [
      'an object that merely calls itself FetchError is not a failed fetch',
      () => [{ message: 'request to http://accounts.internal failed' }, { name: 'FetchError', message: 'request to http://accounts.internal failed' }],
      internal(),
    ],
    [
      'GRAPHQL_VALIDATION_FAILED keeps its message and extensions, minus stacktrace',
      () => [formattedOf(validation), validation],
      { message: 'Cannot query field "nope" on type "Query".', locations: [{ line: 1, column: 1 }], extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'MAX_DEPTH_EXCEEDED' } },
    ],
    [
      'the parser\'s "more that N tokens" is hidden in production',
      () => [formattedOf(tokenLimit('that')), tokenLimit('that')],
      { message: 'Syntax Error: Document contains too many tokens. Parsing aborted.', extensions: { code: 'GRAPHQL_PARSE_FAILED' } },
    ],
    [
      'the same limit spelled "more than N tokens" is hidden in production',
      () => [formattedOf(tokenLimit('than')), tokenLimit('than')],
      { message: 'Syntax Error: Document contains too many tokens. Parsing aborted.', extensions: { code: 'GRAPHQL_PARSE_FAILED' } },
    ],
    [
      'another parse error keeps its message in production',
      () => {
        const error = new GraphQLError('Syntax Error: Expected Name, found <EOF>.', { extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
        return [formattedOf(error), error];
      },
      { message: 'Syntax Error: Expected Name, found <EOF>.', extensions: { code: 'GRAPHQL_PARSE_FAILED' } },
    ],
    [
      'a message over 500 characters is cut to 500 and an ellipsis',
      () => {
        const error = new GraphQLError(`Variable "$input" got invalid value ${'x'.repeat(600)}`, { extensions: { code: 'BAD_USER_INPUT' } });
        return [formattedOf(error), error];
      },
      { message: `Variable "$input" got invalid value ${'x'.repeat(500 - 'Variable "$input" got invalid value '.length)}…`, extensions: { code: 'BAD_USER_INPUT' } },
    ],
    [
      'a message of exactly 500 characters is kept whole',
      () => {
        const error = new GraphQLError('y'.repeat(500), { extensions: { code: 'BAD_USER_INPUT' } });
        return [formattedOf(error), error];
      },
      { message: 'y'.repeat(500), extensions: { code: 'BAD_USER_INPUT' } },
    ],
    [
      'a subgraph\'s long public message is cut too',
      () => fromSubgraph(`No user with id ${'9'.repeat(600)}`, { code: 'NOT_FOUND' }),
      { message: `No user with id ${'9'.repeat(500 - 'No user with id '.length)}…`, locations, path, extensions: { code: 'NOT_FOUND' } },
    ],
    [
      'a policy error keeps its NOT_FOUND',
      () => {
        const error = noReview();
        return [formattedOf(error), error];
      },
      { message: 'No review with this id', extensions: { code: 'NOT_FOUND' } },
    ],
    [
      'a policy error keeps its NOT_FOUND as the originalError of a located error',
      () => [formattedOf(located), located],
      { message: 'No review with this id', path: ['deleteReview'], extensions: { code: 'NOT_FOUND' } },
    ],
    [
      'the same NOT_FOUND not marked as the policy\'s is masked',
      () => {
        const error = new GraphQLError('No review with this id', { extensions: { code: 'NOT_FOUND' } });
        return [formattedOf(error), error];
      },
      internal(),
    ],
    [
      'FORBIDDEN, the gateway\'s own denial, is kept',
      () => {
        const error = new GraphQLError('Not authorised', { path, extensions: { code: 'FORBIDDEN' } });
        return [formattedOf(error), error];
      },
      { message: 'Not authorised', path, extensions: { code: 'FORBIDDEN' } },
    ],
    [
      'an unknown error is masked',
      () => {
        const error = new GraphQLError('connect to postgres://admin:hunter2@db failed', { path, originalError: new Error('connect to postgres://admin:hunter2@db failed') });
        return [{ ...formattedOf(error), extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: STACK } }, error];
      },
      internal({ path }),
    ],
    [
      'an error with a made-up code is masked',
      () => {
        const error = new GraphQLError('quota of tenant 42 exceeded', { extensions: { code: 'TENANT_QUOTA' } });
        return [formattedOf(error), error];
      },
      internal(),
    ],
  ])('%s', (_case, makeInput, expected) => {
    const [formatted, error] = makeInput();
    expect(production(formatted, error)).toEqual(expected);
  });

  it('shows the parser\'s token limit in development', () => {
    const error = tokenLimit('that');
    expect(development(formattedOf(error), error)).toEqual({ message: 'Syntax Error: Document contains more that 2000 tokens. Parsing aborted.', extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
  });

  it('does not change the formatted error it was given', () => {
    const [formatted, error] = fromSubgraph('No user with id 7', { code: 'NOT_FOUND' });
    const before = structuredClone(formatted);
    production(formatted, error);
    expect(formatted).toEqual(before);
  });

  it.each<[string, GraphQLFormattedError, unknown, GraphQLFormattedError]>([
    ['no extensions and no error', { message: 'boom' }, undefined, internal()],
    ['no extensions and null', { message: 'boom', path: ['a'] }, null, internal({ path: ['a'] })],
    ['a string thrown as the error', { message: 'boom' }, 'something went wrong', internal()],
    ['a number thrown as the error', { message: 'boom' }, 42, internal()],
    ['a code that is not a string', { message: 'boom', extensions: { code: 42 } }, new Error('boom'), internal()],
    ['empty extensions and a plain object as the error', { message: 'boom', extensions: {} }, { message: 'boom' }, internal()],
    ['an Error whose name is not a string', { message: 'boom' }, Object.assign(new Error('boom'), { name: 404 }), internal()],
    ['a GraphQLError with no originalError', { message: 'boom', extensions: { code: 'INTERNAL_SERVER_ERROR' } }, new GraphQLError('boom'), internal()],
    ['a frozen formatted error', Object.freeze({ message: 'x'.repeat(501), extensions: Object.freeze({ code: 'BAD_USER_INPUT', stacktrace: STACK }) }), new GraphQLError('x'), { message: `${'x'.repeat(500)}…`, extensions: { code: 'BAD_USER_INPUT' } }],
  ])('never throws: %s', (_case, formatted, error, expected) => {
    expect(production(formatted, error)).toEqual(expected);
  });
});

describe('cutting a long message', () => {
  const format = createFormatError({ publicSubgraphCodes: [], showLimitValues: false });
  it('never splits a character made of two UTF-16 code units', () => {
    const message = `${'a'.repeat(499)}😀b`;
    const cut = format({ message, extensions: { code: 'BAD_USER_INPUT' } }, new GraphQLError(message)).message;
    expect(cut).toBe(`${'a'.repeat(499)}😀…`);
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('answers a formatted error without a message as an internal error, without throwing', () => {
    expect(format({ extensions: { code: 'BAD_USER_INPUT' } } as never, undefined)).toMatchObject({ message: 'Internal server error' });
  });
});

