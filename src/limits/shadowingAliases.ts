import { GraphQLError, isInterfaceType, isObjectType, type ValidationRule } from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';

/**
 * Refuses an alias that is the name of another field of the same type (`{ book { id: title } }`). GraphQL allows it,
 * but @apollo/gateway 2.14 does not keep the two apart: where it needs the real field itself (an entity's key for the
 * next subgraph, a field an access rule reads) it can take the client's aliased value instead (measured: with
 * `@interfaceObject`, `{ topRated { id: title ... on Book { x: id } } }` answers x with the title), which gives wrong
 * data and lets a client choose what an ownership rule compares. No honest client needs such an alias.
 */
export const shadowingAliasesRule: ValidationRule = (context) => ({
  Field(node) {
    const alias = node.alias?.value;
    if (alias === undefined || alias === node.name.value) return;
    const parent = context.getParentType();
    if (!isObjectType(parent) && !isInterfaceType(parent)) return;
    if (parent.getFields()[alias] === undefined) return;
    context.reportError(
      new GraphQLError(`The alias "${alias}" is the name of another field of ${parent.name}: choose an alias that is not a field name`, {
        nodes: [node],
        extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED, validationErrorCode: 'ALIAS_SHADOWS_FIELD' },
      }),
    );
  },
});
