import type { ApolloServerPlugin } from '@apollo/server';
import type { ClientGuard } from '../clientBlocking/clientGuard.js';
import { signalOfErrors, type SuspicionSignal } from '../clientBlocking/signals.js';
import type { GatewayContext } from '../context.js';

/**
 * Tells the client guard what each answered operation did: the heaviest signal among its errors (a validation failure,
 * a limit, a denial, a rate refusal at execution), once per request, against the verified subject or the address.
 * Refusals made before Apollo (credentials, body size, document size, trusted documents, admission) are told where
 * they are made, and so are Apollo's refusals of what it cannot read as a GraphQL request (BAD_REQUEST, most of which no
 * plugin hears of: see signalOfRefusedRequest and gateway.ts).
 */
export function suspicionSignals(guard: Pick<ClientGuard, 'note'>, weights: Readonly<Record<SuspicionSignal, number>>): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue, errors, queryHash }) {
          const all = errors ?? (response.body.kind === 'single' ? response.body.singleResult.errors : undefined) ?? [];
          if (all.length === 0) return;
          const signal = signalOfErrors(all, weights);
          // An app's own operation denied to its user is how the app was built (a page that asks for an admin's
          // fields for everyone), not probing: only what a client wrote itself counts as a denial.
          if (signal === 'forbidden' && contextValue.trustedDocument) return;
          // The document's hash: the same document refused again counts once (see ClientGuard.note).
          if (signal !== undefined) void guard.note(contextValue.principal, contextValue.clientIp, signal, queryHash);
        },
      };
    },
  };
}
