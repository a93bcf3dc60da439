import type { ValidationRule } from 'graphql';
import type { GatewayConfig } from '../config.js';
import { depthLimitRule } from './depthLimit.js';
import { documentLimitRules } from './documentLimits.js';
import { reservedAliasesRule } from './reservedAliases.js';

/** The limits checked during validation, on the document alone (Apollo caches the result per document). */
export function validationRules(config: GatewayConfig): ValidationRule[] {
  const showValues = config.mode === 'development';
  return [
    reservedAliasesRule,
    ...(config.limits.maxDepth > 0 ? [depthLimitRule(config.limits.maxDepth, showValues)] : []),
    ...documentLimitRules(config.limits, showValues),
  ];
}
