export { CLIENT_TOKEN_ALGORITHMS, type ClientTokenAlgorithm, type ConnectionsConfig, type GatewayConfigInput, type KeySource, type LimitsConfig, type PolicyInput, type RateLimitConfig, type SubgraphTokenConfig } from './schema.js';
export { ConfigError, DEV_AUDIENCE, DEV_ISSUER, loadConfig, loadConfigOrExit, subgraphUrlKey, subgraphUrlVariable, type AuthConfig, type CacheConfig, type GatewayConfig, type LoadConfigOptions } from './loadConfig.js';
export { defineConfig } from './defineConfig.js';
export { configModulePath, importConfigModule } from './configModule.js';
