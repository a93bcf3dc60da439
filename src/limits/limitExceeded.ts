import { GraphQLError, type ASTNode } from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';

/** The reason a request was refused by a limit, in `extensions.validationErrorCode`; stable, for clients and metrics. */
export const LimitCode = {
  Depth: 'MAX_DEPTH_EXCEEDED',
  Aliases: 'MAX_ALIASES_EXCEEDED',
  RootFields: 'MAX_ROOT_FIELDS_EXCEEDED',
  Directives: 'MAX_DIRECTIVES_EXCEEDED',
  Cost: 'MAX_COST_EXCEEDED',
  FieldCap: 'FIELD_CAP_EXCEEDED',
} as const;
export type LimitCode = (typeof LimitCode)[keyof typeof LimitCode];

export interface LimitErrorOptions {
  /** Development mode shows the limit and the measured value; production says only which limit. */
  showValues: boolean;
  nodes?: readonly ASTNode[] | undefined;
  /** Set when the error is thrown outside validation (the cost and field caps), so that Apollo answers 400. */
  http400?: boolean;
}

/**
 * A rejection by a limit: code GRAPHQL_VALIDATION_FAILED (HTTP 400) like any validation failure, the specific reason
 * in `validationErrorCode`, as Apollo's own introspection rule does it.
 */
export function limitExceeded(code: LimitCode, what: string, limit: number, actual: number, options: LimitErrorOptions): GraphQLError {
  const values = options.showValues ? ` (${actual}, limit ${limit})` : '';
  return new GraphQLError(`The operation exceeds the maximum ${what}${values}`, {
    nodes: options.nodes,
    extensions: {
      code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
      validationErrorCode: code,
      ...(options.showValues ? { limit, actual } : {}),
      ...(options.http400 ? { http: { status: 400 } } : {}),
    },
  });
}
