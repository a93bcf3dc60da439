import type { Principal } from '../auth/principal.js';
import type { RuleContext } from './ruleEvaluation.js';

/** Fetches one entity's fields from the subgraph that resolves them, as the caller (for rules that must look data up). */
export type EntityFetcher = (request: { typename: string; key: Record<string, unknown>; selection: string }) => Promise<Record<string, unknown> | null>;

/** What a permission rule receives as `ctx`. */
export interface AuthzContext extends RuleContext {
  principal: Principal;
  requestId: string;
  /** Looks an entity up through the gateway's subgraph connections, with the caller's identity. */
  fetchEntity: EntityFetcher;
}
