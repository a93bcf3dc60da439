import type { AddressInfo } from 'node:net';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import type { GatewayConfig } from './config.js';
import type { GatewayContext } from './context.js';
import { formatError } from './errors.js';
import { graphqlHandler, type GraphQLHandler } from './http/graphqlHandler.js';
import { createHttpServer } from './http/httpServer.js';
import { lifecycleLogger, type Logger } from './logger.js';
import { gatewayPlugins } from './plugins/index.js';
import { fileSupergraphManager, type SupergraphReload } from './supergraph/fileSupergraphManager.js';
import { subgraphDataSources } from './subgraphs/subgraphDataSource.js';

export interface GatewayDependencies {
  logger: Logger;
  /** Told of every change of the supergraph file, applied or rejected. */
  onSupergraphReload?: (reload: SupergraphReload) => void;
}

export interface Gateway {
  /** Listens, then loads the supergraph; resolves once `/graphql` serves, with the URL of the HTTP server. */
  start(): Promise<{ url: string }>;
  /** Stops taking requests, lets those in flight finish (up to `shutdownTimeoutMs`), then releases everything. */
  stop(): Promise<void>;
}

/** The gateway: an Apollo Server whose schema and execution come from an Apollo Gateway over the supergraph file. */
export function createGateway(config: GatewayConfig, dependencies: GatewayDependencies): Gateway {
  const { logger } = dependencies;

  // @apollo/gateway starts an OpenTelemetry exporter at construction unless this is set: it probes cloud metadata
  // addresses and sends metrics to Apollo. A gateway in front of private services must not phone home, so it is off
  // for every gateway this process creates, whatever the environment says.
  process.env['APOLLO_TELEMETRY_DISABLED'] = 'true';

  const dataSources = subgraphDataSources({ urls: config.subgraphUrls, timeoutMs: config.subgraphTimeoutMs });
  const apolloGateway = new ApolloGateway({
    supergraphSdl: fileSupergraphManager({ path: config.supergraphPath, logger, onReload: dependencies.onSupergraphReload }),
    buildService: dataSources.buildService,
    logger,
  });
  const apollo = new ApolloServer<GatewayContext>({
    gateway: apolloGateway,
    logger,
    introspection: config.introspection,
    // No "Did you mean ..." that would name fields a caller cannot discover by introspection.
    hideSchemaDetailsFromClientErrors: !config.introspection,
    includeStacktraceInErrorResponses: false,
    formatError,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    // Apollo Server would stop itself on SIGTERM and re-raise the signal, killing requests in flight; main.ts drains.
    stopOnTerminationSignals: false,
    plugins: gatewayPlugins({ config, logger }),
  });

  let handler: GraphQLHandler | undefined;
  let stopping: Promise<void> | undefined;
  const app = createHttpServer({
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    sandbox: config.sandbox,
    graphqlHandler: () => handler,
    draining: () => stopping !== undefined,
  });

  return {
    async start() {
      await app.listen({ host: config.host, port: config.port });
      const address = app.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      const url = `http://${host}:${address.port}`;
      try {
        await apollo.start();
      } catch (error) {
        await app.close();
        dataSources.close();
        throw error;
      }
      handler = graphqlHandler(apollo);
      lifecycleLogger(logger).info({ url: `${url}/graphql`, supergraph: config.supergraphPath, mode: config.mode }, 'listening');
      return { url };
    },
    stop() {
      stopping ??= (async () => {
        handler = undefined;
        const force = setTimeout(() => app.server.closeAllConnections(), config.shutdownTimeoutMs);
        try {
          await app.close();
        } finally {
          clearTimeout(force);
        }
        await apollo.stop().catch((error: unknown) => {
          // stop() before start() finished: nothing of Apollo's to release.
          logger.debug({ err: error }, 'apollo server was not running');
        });
        dataSources.close();
      })();
      return stopping;
    },
  };
}
