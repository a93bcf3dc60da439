import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerErrorCode, ApolloServerValidationErrorCode } from '@apollo/server/errors';
import { GraphQLError } from 'graphql';
import { hasBypassRole } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { firstIntrospectionField } from '../authz/visibleIntrospection.js';

/** Apollo Server's own words when introspection is off (its NoIntrospection rule), so that clients see no change. */
const DISABLED_MESSAGE =
  'GraphQL introspection is not allowed by Apollo Server, but the query contained __schema or __type. To enable introspection, pass introspection: true to ApolloServer in production';

/**
 * Introspection decided per caller. Apollo Server's `introspection: false` is a validation rule, the same for every
 * caller, and its verdict is cached with the document: a bypass role could never get past it. So Apollo is told to
 * allow introspection, and this plugin refuses it, once the operation is known and before anything runs, for every
 * caller but those with a bypass role (`trustedDocuments.bypassRoles`, the role Sandbox and the explorer are for in
 * staging), with the code and message Apollo's rule uses (400 GRAPHQL_VALIDATION_FAILED, `validationErrorCode:
 * INTROSPECTION_DISABLED`). Only where introspection is off (production's default); what is answered comes from the
 * caller's view of the schema (authz/visibleIntrospection.ts).
 */
export function introspectionAccess(options: { bypassRoles: readonly string[] }): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, contextValue }) {
          if (hasBypassRole(contextValue.principal, options.bypassRoles)) return;
          const field = firstIntrospectionField(document);
          if (field === undefined) return;
          throw new GraphQLError(DISABLED_MESSAGE, {
            nodes: [field],
            extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED, validationErrorCode: ApolloServerValidationErrorCode.INTROSPECTION_DISABLED, http: { status: 400 } },
          });
        },
      };
    },
  };
}
