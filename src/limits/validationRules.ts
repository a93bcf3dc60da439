import type { ValidationRule } from 'graphql';
import type { GatewayConfig } from '../config/index.js';
import { documentLimitsRule } from './documentLimits.js';
import { shadowingAliasesRule } from './shadowingAliases.js';
import { supportedOperationsRule } from './supportedOperations.js';

/**
 * The gateway's own validation rules, on the document alone (Apollo caches the result per document). Apollo Server
 * runs them after graphql-js's rules and its `maxRecursiveSelections` bound have passed.
 */
export function validationRules(config: GatewayConfig): ValidationRule[] {
  return [supportedOperationsRule, documentLimitsRule(config.limits, config.mode === 'development'), shadowingAliasesRule];
}
