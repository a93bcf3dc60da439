/**
 * Why one request to a subgraph failed. The masking (`createFormatError` in src/errors.ts) maps these by class and
 * `code`, never by message or `name`: the message is for the gateway's log, and names the subgraph, its address and
 * the network's own error (`connect ECONNREFUSED 10.0.0.7:4001`); a client never sees it.
 */
export abstract class SubgraphRequestError extends Error {
  abstract readonly code: SubgraphFailure['code'];

  constructor(
    /** The subgraph's name in the supergraph. */
    readonly subgraph: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The connection could not be made, or was reset or closed before the whole answer arrived. */
export class SubgraphUnreachableError extends SubgraphRequestError {
  readonly code = 'SUBGRAPH_UNREACHABLE';
}

/** The subgraph's answer was not complete within its deadline (`subgraphTimeoutMs` / `subgraphTimeouts`). */
export class SubgraphTimeoutError extends SubgraphRequestError {
  readonly code = 'SUBGRAPH_TIMEOUT';

  constructor(subgraph: string, readonly timeoutMs: number) {
    super(subgraph, `the ${subgraph} subgraph did not answer within ${timeoutMs} ms`);
  }
}

/** The answer was longer than the gateway reads of one subgraph answer; it was refused, not parsed. */
export class SubgraphResponseTooLargeError extends SubgraphRequestError {
  readonly code = 'SUBGRAPH_RESPONSE_TOO_LARGE';

  constructor(subgraph: string, readonly limitBytes: number, declaredBytes?: number) {
    super(
      subgraph,
      declaredBytes === undefined
        ? `the ${subgraph} subgraph's answer passed ${limitBytes} bytes, the most the gateway reads of one subgraph answer: refused`
        : `the ${subgraph} subgraph announced an answer of ${declaredBytes} bytes, more than the ${limitBytes} the gateway reads of one subgraph answer: refused`,
    );
  }
}

/** The subgraph answered with a status other than 2xx. */
export class SubgraphStatusError extends SubgraphRequestError {
  readonly code = 'SUBGRAPH_HTTP_STATUS';

  constructor(
    subgraph: string,
    readonly status: number,
    /** The start of the answer's body, for the log. */
    readonly bodyExcerpt: string,
  ) {
    super(subgraph, `the ${subgraph} subgraph answered HTTP ${status}`);
  }
}

export type SubgraphFailure = SubgraphUnreachableError | SubgraphTimeoutError | SubgraphResponseTooLargeError | SubgraphStatusError;

/** Whether an error is one of the above (each is a `SubgraphRequestError`); narrow further on `code`. */
export function isSubgraphFailure(error: unknown): error is SubgraphFailure {
  return error instanceof SubgraphRequestError;
}
