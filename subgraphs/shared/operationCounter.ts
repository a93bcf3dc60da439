import type { ApolloServerPlugin } from '@apollo/server';

/**
 * Counts what reached a subgraph, so tests can prove what the gateway sent and what it held back.
 * `received` counts every GraphQL request; `fields` counts each root field by `Type.field` (e.g. `Mutation.createReview`,
 * `Query._entities`) once per operation that selected it.
 */
export class OperationCounter {
  received = 0;
  /** Requests refused before any GraphQL ran: no valid gateway token. */
  rejected = 0;
  /** The headers of the last request that reached GraphQL, so tests can see exactly what the gateway sent. */
  lastHeaders: Readonly<Record<string, string>> = {};
  readonly fields = new Map<string, number>();

  count(field: string): number {
    return this.fields.get(field) ?? 0;
  }

  reset(): void {
    this.received = 0;
    this.rejected = 0;
    this.lastHeaders = {};
    this.fields.clear();
  }

  plugin(): ApolloServerPlugin {
    return {
      requestDidStart: async ({ request }) => {
        this.received += 1;
        this.lastHeaders = Object.fromEntries(request.http?.headers ?? []);
        return {
          didResolveOperation: async ({ operation }) => {
            if (!operation) return;
            const type = operation.operation === 'query' ? 'Query' : operation.operation === 'mutation' ? 'Mutation' : 'Subscription';
            const seen = new Set<string>();
            for (const selection of operation.selectionSet.selections) {
              if (selection.kind === 'Field') seen.add(`${type}.${selection.name.value}`);
            }
            for (const field of seen) this.fields.set(field, this.count(field) + 1);
          },
        };
      },
    };
  }
}
