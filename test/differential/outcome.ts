import { isDeepStrictEqual } from 'node:util';
import type { ExecutionResult } from 'graphql';
import type { GraphQLResponse } from '../harness.js';

/** One error of an answer, as the comparison sees it: where (the JSON of its path, '' for none) and its code. */
export interface OutcomeError {
  path: string;
  code: string | null;
  /** Shown in reports, never compared. */
  message: string;
}

/** An answer, from either side, in one form: the HTTP status, `data` (undefined when absent) and the errors, sorted. */
export interface Outcome {
  status: number;
  data: unknown;
  errors: OutcomeError[];
}

export function gatewayOutcome(response: GraphQLResponse): Outcome {
  const errors = (response.body.errors ?? []).map((error) => ({
    path: error.path === undefined ? '' : JSON.stringify(error.path),
    code: typeof error.extensions?.['code'] === 'string' ? error.extensions['code'] : null,
    message: error.message,
  }));
  return { status: response.status, data: plain(response.body.data), errors: sorted(errors) };
}

/** A graphql-js result, as a server answering it would send it: 200, JSON. */
export function monolithOutcome(result: ExecutionResult): Outcome {
  const errors = (result.errors ?? []).map((error) => ({
    path: error.path === undefined ? '' : JSON.stringify(error.path),
    code: typeof error.extensions['code'] === 'string' ? error.extensions['code'] : null,
    message: error.message,
  }));
  return { status: 200, data: plain(result.data), errors: sorted(errors) };
}

/** Same status, deeply equal data, and the same (path, code) pairs. */
export function sameOutcome(a: Outcome, b: Outcome): boolean {
  const pairs = (outcome: Outcome) => outcome.errors.map(({ path, code }) => [path, code]);
  return a.status === b.status && isDeepStrictEqual(a.data, b.data) && isDeepStrictEqual(pairs(a), pairs(b));
}

export function withErrors(outcome: Outcome, errors: OutcomeError[]): Outcome {
  return { ...outcome, errors: sorted(errors) };
}

/**
 * The answer had the field at `path` been denied: null there, no error below it, and one error at it. The field
 * must be nullable (the callers only deny nullable fields this way), so the null does not propagate.
 */
export function withFieldDenied(outcome: Outcome, path: readonly (string | number)[], error: Omit<OutcomeError, 'path'>): Outcome {
  const key = JSON.stringify(path);
  const below = key.slice(0, -1);
  const data = structuredClone(outcome.data) as Record<string | number, unknown> | null | undefined;
  let holder: Record<string | number, unknown> | null | undefined = data;
  for (const step of path.slice(0, -1)) {
    // Nulled above already (by an error or an earlier deviation): the field is not in the answer.
    if (holder === null) return outcome;
    holder = holder?.[step] as Record<string | number, unknown> | null | undefined;
  }
  if (holder === null) return outcome;
  const last = path[path.length - 1];
  if (holder === undefined || last === undefined || !(last in holder)) throw new Error(`no field at ${key} in ${JSON.stringify(outcome.data)}`);
  holder[last] = null;
  const kept = outcome.errors.filter((existing) => existing.path !== key && !existing.path.startsWith(`${below},`));
  return { ...outcome, data, errors: sorted([...kept, { path: key, ...error }]) };
}

export function formatOutcome(outcome: Outcome): string {
  const errors = outcome.errors.map((error) => `${error.path || '(no path)'} ${error.code ?? '(no code)'} "${error.message}"`);
  return `status ${outcome.status}, data ${outcome.data === undefined ? '(absent)' : JSON.stringify(outcome.data)}${errors.length > 0 ? `, errors: ${errors.join('; ')}` : ''}`;
}

function sorted(errors: OutcomeError[]): OutcomeError[] {
  const key = (error: OutcomeError) => `${error.path}\u0000${error.code ?? ''}`;
  return [...errors].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** JSON's view of a value: graphql-js builds its data from null-prototype objects. */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
