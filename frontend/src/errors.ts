import { CombinedGraphQLErrors, ServerError } from '@apollo/client/core';

/** One error as the page shows it: the gateway's stable `extensions.code` (when it gave one) and its message. */
export interface ShownError {
  code: string | undefined;
  message: string;
  /** Where in the result the error belongs, e.g. `me.email`. */
  path: string | undefined;
}

/**
 * The errors inside whatever Apollo Client reported. GraphQL errors keep their `extensions.code`; a non-2xx answer
 * that Apollo Client could not read as a GraphQL result (a `ServerError`, e.g. an `application/json` 401) is read for
 * the errors in its body, so that a refusal shows its code too; anything else (the network) shows its message.
 */
export function shownErrors(error: unknown): ShownError[] {
  if (CombinedGraphQLErrors.is(error)) return error.errors.map(toShown);
  if (ServerError.is(error)) {
    const fromBody = errorsInBody(error.bodyText);
    return fromBody.length > 0 ? fromBody : [{ code: `HTTP_${error.statusCode}`, message: error.message, path: undefined }];
  }
  return [{ code: undefined, message: error instanceof Error ? error.message : String(error), path: undefined }];
}

function errorsInBody(bodyText: string): ShownError[] {
  try {
    const body: unknown = JSON.parse(bodyText);
    if (typeof body !== 'object' || body === null || !Array.isArray((body as { errors?: unknown }).errors)) return [];
    return ((body as { errors: unknown[] }).errors).filter(isFormattedError).map(toShown);
  } catch {
    return [];
  }
}

interface FormattedErrorLike {
  message: string;
  path?: readonly (string | number)[];
  extensions?: Record<string, unknown>;
}

function isFormattedError(value: unknown): value is FormattedErrorLike {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

function toShown(error: FormattedErrorLike): ShownError {
  const code = error.extensions?.['code'];
  return { code: typeof code === 'string' ? code : undefined, message: error.message, path: error.path?.join('.') };
}
