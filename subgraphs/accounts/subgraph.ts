import { createSubgraph, type Subgraph } from '../shared/subgraphServer.js';
import { loadSubgraphTypeDefs } from '../shared/schemaFile.js';
import { USERS, type UserRecord } from './data.js';

/** The accounts subgraph: users. `me` is the user whose id the gateway sent, or null. */
export function createAccountsSubgraph(): Subgraph {
  const users = new Map<string, UserRecord>(USERS.map((user) => [user.id, { ...user }]));
  return createSubgraph({
    name: 'accounts',
    typeDefs: loadSubgraphTypeDefs('accounts'),
    resolvers: {
      Query: {
        me: (_parent: unknown, _args: unknown, context: { userId: string | null }) =>
          context.userId === null ? null : (users.get(context.userId) ?? null),
        user: (_parent: unknown, args: { id: string }) => users.get(args.id) ?? null,
        users: () => [...users.values()],
      },
      User: {
        __resolveReference: (reference: { id: string }) => users.get(reference.id) ?? null,
      },
    },
  });
}
