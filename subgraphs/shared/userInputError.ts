import { GraphQLError } from 'graphql';

/** A mistake in the caller's input. Its code is on the gateway's public list, so the message reaches the client. */
export function userInputError(message: string, argumentName: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', argumentName } });
}
