// The gateway process: reads the environment, serves, and drains on SIGTERM or SIGINT.
import { ConfigError, loadConfig } from './config.js';
import { createGateway } from './gateway.js';
import { createLogger, lifecycleLogger } from './logger.js';
import { stopOnSignals } from './stopOnSignals.js';

let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}

const logger = createLogger({ level: config.logLevel, base: { service: 'gateway' } });
const gateway = createGateway(config, { logger });

// Drains: requests in flight finish (up to SHUTDOWN_TIMEOUT_MS), then every resource is released.
stopOnSignals(() => gateway.stop(), lifecycleLogger(logger));

try {
  await gateway.start();
} catch (error) {
  logger.fatal({ err: error }, 'the gateway could not start');
  await gateway.stop().catch(() => undefined);
  process.exit(1);
}
