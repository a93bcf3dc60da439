import type { ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { GatewayConfig } from '../config.js';
import type { GatewayContext } from '../context.js';
import type { Logger } from '../logger.js';
import { errorLogging } from './errorLogging.js';
import { metricsPlugin } from './metrics.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { operationLimits } from './operationLimits.js';
import { rateLimit } from './rateLimit.js';
import type { CostRateLimiter } from '../rateLimit/costRateLimiter.js';
import type { GraphQLSchema } from 'graphql';

export interface PluginOptions {
  config: GatewayConfig;
  logger: Logger;
  /** Absent when rate limiting is off. */
  rateLimiter: CostRateLimiter | undefined;
  supergraphOf: (schema: GraphQLSchema) => string | undefined;
  metrics: GatewayMetrics;
}

/** Every Apollo Server plugin of the gateway, in the order they run. */
export function gatewayPlugins({ config, logger, rateLimiter, supergraphOf, metrics }: PluginOptions): ApolloServerPlugin<GatewayContext>[] {
  return [
    // Nothing leaves for Apollo's servers, even when an APOLLO_KEY is in the environment.
    ApolloServerPluginUsageReportingDisabled(),
    ApolloServerPluginSchemaReportingDisabled(),
    config.sandbox
      ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
      : ApolloServerPluginLandingPageDisabled(),
    errorLogging(logger),
    metricsPlugin(metrics),
    // Cost and field caps before the rate limiter, which charges the cost they estimate.
    operationLimits({ limits: config.limits, showValues: config.mode === 'development', supergraphOf }),
    ...(rateLimiter === undefined ? [] : [rateLimit(rateLimiter, config.rateLimit.windowSec)]),
  ];
}
