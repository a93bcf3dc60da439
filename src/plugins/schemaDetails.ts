import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { specifiedRules, validate, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { hasBypassRole, type Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { boundedMessage } from '../errors.js';

/** What a caller gets instead of a message that would describe the schema. */
const GENERIC: Readonly<Record<string, string>> = {
  [ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED]: 'The operation does not validate against the schema',
  [ApolloServerErrorCode.BAD_USER_INPUT]: "The variables do not match the operation's types",
};

/**
 * What validation messages may say of the schema: no more than the caller's introspection would.
 *
 * With introspection off (`hideUnlessBypass`, production's default), graphql-js's validation messages are a schema
 * oracle: "Cannot query field "x" on type "Product"", "Unknown argument "a" on field "Query.f"", "Field "f" argument
 * "a" of type "Int!" is required", "Variable "$v" got invalid value ...; Field "y" is not defined by type
 * "ReviewInput"" each tell a prober a little of what introspection would, and which of its fields was wrong (their
 * locations). There they become one error per code with a generic message and no locations: the caller learns that the
 * document does not validate, and nothing of the schema. The gateway's own refusals (limits: they carry a
 * `validationErrorCode`) and errors from execution (they have a path) keep theirs.
 *
 * Where the caller may introspect (development, or a bypass role: the one trusted documents use, for Sandbox in
 * staging), introspection answers with their view of the schema (authz/visibleSchema.ts), and so do the messages:
 * graphql-js's own validation errors are replaced by those of the document validated against the view with
 * graphql-js's rules, so that a field the view leaves out is "Cannot query field" like any unknown one, never "Did you
 * mean" it, never its arguments. Only documents that failed validation pay for that.
 */
export function schemaDescriptions(options: {
  hideUnlessBypass: boolean;
  /** No "Did you mean …?" (introspection off: Apollo's hideSchemaDetailsFromClientErrors, for the messages made here too). */
  hideSuggestions: boolean;
  /** MAX_ERRORS: validation stops there, as Apollo's does. */
  maxErrors: number;
  bypassRoles: readonly string[];
  viewOf: (schema: GraphQLSchema, principal: Principal) => Promise<GraphQLSchema | undefined>;
}): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue, document, schema }) {
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          const errors = result.errors;
          if (errors === undefined || errors.length === 0) return;
          const principal = contextValue.principal;
          if (options.hideUnlessBypass && !hasBypassRole(principal, options.bypassRoles)) {
            result.errors = hidden(errors);
            return;
          }
          const replaced = errors.filter(isGraphqlJsValidationError).length;
          if (document === undefined || replaced === 0) return;
          const view = await options.viewOf(schema, principal);
          // With the bound Apollo validates with (graphql-js adds its own "Too many validation errors" past it), and no
          // more than graphql-js's errors were.
          const inView = (view === undefined ? [] : validate(view, document, specifiedRules, { maxErrors: Math.max(1, options.maxErrors - 1) }))
            .slice(0, replaced)
            .map((error) => boundedMessage({ ...error.toJSON(), message: options.hideSuggestions ? withoutSuggestion(error.message) : error.message, extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED } }));
          // Valid in the view yet not in the schema (an operation on a root type the view leaves out, which graphql-js
          // validates nothing of): all the caller may learn is that it does not validate.
          const said = inView.length > 0 ? inView : [{ message: GENERIC[ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED] ?? 'Invalid request', extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED } }];
          result.errors = [...said, ...errors.filter((error) => !isGraphqlJsValidationError(error))];
        },
      };
    },
  };
}

/** A message without graphql-js's suggestion, as Apollo Server's ApolloServerPluginDisableSuggestions cuts it. */
function withoutSuggestion(message: string): string {
  return message.replace(/ ?Did you mean(.+?)\?$/, '');
}

/** One generic error per code for those that may describe the schema; the others as they are. */
function hidden(errors: readonly GraphQLFormattedError[]): GraphQLFormattedError[] {
  const codes = new Set<string>();
  const kept: GraphQLFormattedError[] = [];
  for (const error of errors) {
    const code = describesSchema(error);
    if (code === undefined) kept.push(error);
    else codes.add(code);
  }
  if (codes.size === 0) return [...errors];
  return [...[...codes].map((code) => ({ message: GENERIC[code] ?? 'Invalid request', extensions: { code } })), ...kept];
}

/** A validation error of graphql-js's own rules: the gateway's carry a `validationErrorCode`, execution's a path. */
function isGraphqlJsValidationError(error: GraphQLFormattedError): boolean {
  return error.extensions?.['code'] === ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED && error.extensions['validationErrorCode'] === undefined && error.path === undefined;
}

/** The code of an error whose message may describe the schema, or undefined. */
function describesSchema(error: GraphQLFormattedError): string | undefined {
  if (isGraphqlJsValidationError(error)) return ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED;
  const code = error.extensions?.['code'];
  // Variable coercion (before execution, no path): it names the input types' fields.
  if (code === ApolloServerErrorCode.BAD_USER_INPUT && error.path === undefined && error.message.startsWith('Variable "$')) return code;
  return undefined;
}
