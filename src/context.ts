import type { ClientToken } from './auth/authenticate.js';
import type { Principal } from './auth/principal.js';

/** What every request carries through Apollo Server, its plugins and the subgraph data sources. */
export interface GatewayContext {
  /** The request id: the caller's `x-request-id` when it is well-formed, else a new UUID. Sent back as `x-request-id`. */
  requestId: string;
  /** The verified caller, or anonymous. */
  principal: Principal;
  /**
   * The token `principal` was verified by, for subgraphs that are sent the client's token (`forward`); undefined for
   * an anonymous caller. Opaque: it never prints or serialises its value.
   */
  clientToken: ClientToken | undefined;
  /** The client's headers that the configured allowlist passes on to subgraphs. */
  forwardedHeaders: Readonly<Record<string, string>>;
  /** The client's address (from X-Forwarded-For only behind a trusted proxy), for rate limiting anonymous callers. */
  clientIp: string;
  /** Whether the document is one of the trusted list (an app's own operation, as it was built). */
  trustedDocument: boolean;
}
