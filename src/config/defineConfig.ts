import type { GatewayConfigInput } from './schema.js';

/**
 * Types a config module: `export default defineConfig({ policy: { ruleTree }, limits: { maxCost: 5000 } })`. Every
 * field is optional and has the default the README lists; the environment overrides any of them at start
 * (`MAX_COST=8000`), which is where secrets, URLs and ports belong. Validated once, when the gateway starts.
 */
export function defineConfig(config: GatewayConfigInput): GatewayConfigInput {
  return config;
}
