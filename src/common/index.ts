// What a process around the gateway needs and nothing of the gateway itself: a logger, a Fastify-to-Apollo handler,
// and clean stops on signals. The demo subgraphs (subgraphs/shared) are built on it, as a team's own services could be.
export { createLogger, lifecycleLogger, type Logger } from './logger.js';
export { graphqlHandler, type GraphQLHandler } from './graphqlHandler.js';
export { stopOnSignals } from './stopOnSignals.js';
