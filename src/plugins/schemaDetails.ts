import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import type { GatewayContext } from '../context.js';

/** What a caller gets instead of a message that would describe the schema. */
const GENERIC: Readonly<Record<string, string>> = {
  [ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED]: 'The operation does not validate against the schema',
  [ApolloServerErrorCode.BAD_USER_INPUT]: "The variables do not match the operation's types",
};

/**
 * With introspection off, graphql-js's validation messages are a schema oracle: "Cannot query field "x" on type
 * "Product"", "Unknown argument "a" on field "Query.f"", "Field "f" argument "a" of type "Int!" is required", "Variable
 * "$v" got invalid value ...; Field "y" is not defined by type "ReviewInput"" each tell a prober a little of what
 * introspection would, and which of its fields was wrong (their locations). Here they become one error per code with
 * a generic message and no locations: the caller learns that the document does not validate, and nothing of the schema.
 * The gateway's own refusals (limits: they carry a `validationErrorCode`) and errors from execution (they have a path)
 * keep theirs. A caller with a bypass role (the one trusted documents use, for Sandbox in staging) gets them all.
 */
export function schemaDetailsHidden(options: { bypassRoles: readonly string[] }): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors;
          if (errors === undefined || errors.length === 0) return;
          const principal = contextValue.principal;
          if (principal?.kind === 'user' && principal.roles.some((role) => options.bypassRoles.includes(role))) return;
          const hidden = new Set<string>();
          const kept: GraphQLFormattedError[] = [];
          for (const error of errors) {
            const code = describesSchema(error);
            if (code === undefined) kept.push(error);
            else hidden.add(code);
          }
          if (hidden.size === 0) return;
          response.body.singleResult.errors = [...[...hidden].map((code) => ({ message: GENERIC[code] ?? 'Invalid request', extensions: { code } })), ...kept];
        },
      };
    },
  };
}

/** The code of an error whose message may describe the schema, or undefined. */
function describesSchema(error: GraphQLFormattedError): string | undefined {
  const code = error.extensions?.['code'];
  if (code === ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED && error.extensions?.['validationErrorCode'] === undefined && error.path === undefined) return code;
  // Variable coercion (before execution, no path): it names the input types' fields.
  if (code === ApolloServerErrorCode.BAD_USER_INPUT && error.path === undefined && error.message.startsWith('Variable "$')) return code;
  return undefined;
}
