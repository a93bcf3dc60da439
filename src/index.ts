// The gateway as a library: what a team's config module and its own entry points use. Everything else in src/ is
// the engine's own and may change.
export { createGateway, type Gateway, type GatewayDependencies } from './gateway.js';
export { defineConfig, loadConfig, loadConfigOrExit, ConfigError, type GatewayConfig, type GatewayConfigInput, type PolicyInput } from './config/index.js';
export { isAuthenticated, hasRole, hasScopes, ownedBy } from './authz/rules.js';
export type { AuthzContext, EntityFetcher } from './authz/authzContext.js';
export type { ShieldRule } from './authz/ruleEvaluation.js';
export type { Principal } from './auth/principal.js';
export { createLogger, type Logger } from './common/logger.js';
