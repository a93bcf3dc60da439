/** What every request carries through Apollo Server, its plugins and the subgraph data sources. */
export interface GatewayContext {
  /** The request id: the caller's `x-request-id` when it is well-formed, else a new UUID. Sent back as `x-request-id`. */
  requestId: string;
}
