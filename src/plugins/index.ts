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

export interface PluginOptions {
  config: GatewayConfig;
  logger: Logger;
}

/** Every Apollo Server plugin of the gateway, in the order they run. */
export function gatewayPlugins({ config, logger }: PluginOptions): ApolloServerPlugin<GatewayContext>[] {
  return [
    // Nothing leaves for Apollo's servers, even when an APOLLO_KEY is in the environment.
    ApolloServerPluginUsageReportingDisabled(),
    ApolloServerPluginSchemaReportingDisabled(),
    config.sandbox
      ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
      : ApolloServerPluginLandingPageDisabled(),
    errorLogging(logger),
  ];
}
