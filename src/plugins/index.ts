import type { GraphQLSchema } from 'graphql';
import type { Principal } from '../auth/principal.js';
import type { ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import type { GatewayConfig } from '../config/index.js';
import type { GatewayContext } from '../context.js';
import type { Logger } from '../common/logger.js';
import { errorCap } from './errorCap.js';
import { errorLogging } from './errorLogging.js';
import { metricsPlugin } from './metrics.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { operationLimits } from '../limits/operationLimits.js';
import { persistedQueryHash } from './persistedQueryHash.js';
import { schemaDescriptions } from './schemaDetails.js';
import { introspectionAccess } from './introspectionAccess.js';
import { sandboxLandingPage } from './landingPage.js';
import type { RequestAnalyzer } from '../analysis/requestAnalyzer.js';
import type { ClientGuard } from '../clientBlocking/clientGuard.js';
import { suspicionSignals } from './suspicionSignals.js';

export interface PluginOptions {
  config: GatewayConfig;
  logger: Logger;
  analyzer: RequestAnalyzer;
  metrics: GatewayMetrics;
  /** Counts what each operation did against its client; absent when client blocking is off. */
  clientGuard?: ClientGuard | undefined;
  /** The caller's view of a served schema (authz/visibleSchema.ts), which validation messages keep to. */
  viewOf: (schema: GraphQLSchema, principal: Principal) => Promise<GraphQLSchema | undefined>;
}

/** Every Apollo Server plugin of the gateway, in the order they run. */
export function gatewayPlugins({ config, logger, analyzer, metrics, clientGuard, viewOf }: PluginOptions): ApolloServerPlugin<GatewayContext>[] {
  return [
    // Nothing leaves for Apollo's servers, even when an APOLLO_KEY is in the environment.
    ApolloServerPluginUsageReportingDisabled(),
    ApolloServerPluginSchemaReportingDisabled(),
    config.sandbox ? sandboxLandingPage({ explorer: config.explorer }) : ApolloServerPluginLandingPageDisabled(),
    ...(config.automaticPersistedQueries ? [persistedQueryHash()] : []),
    errorLogging(logger, config.limits.maxErrors),
    metricsPlugin(metrics),
    // Like the metrics, it reads every error before any is merged or cut short.
    ...(clientGuard !== undefined ? [suspicionSignals(clientGuard, config.clientBlocking.weights)] : []),
    // No message describes more of the schema than the caller's introspection would: in production without
    // introspection nothing (but to a bypass role), elsewhere the caller's view (before the cap: they become one).
    schemaDescriptions({ hideUnlessBypass: config.mode === 'production' && !config.introspection, hideSuggestions: !config.introspection, maxErrors: config.limits.maxErrors, bypassRoles: config.trustedDocuments.bypassRoles, viewOf }),
    // Apollo Server allows introspection (see gateway.ts): where it is off, this refuses it to all but a bypass role.
    ...(config.introspection ? [] : [introspectionAccess({ bypassRoles: config.trustedDocuments.bypassRoles })]),
    // After the metrics, which count every refusal in the full list: only the answer is cut short.
    errorCap(config.limits.maxErrors),
    operationLimits({ limits: config.limits, showValues: config.mode === 'development', analyzer }),
  ];
}
