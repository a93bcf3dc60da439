// The gateway process: reads the environment, serves, and drains on SIGTERM or SIGINT.
import { ConfigError, loadConfig } from './config.js';
import { createGateway } from './gateway.js';
import { createLogger } from './logger.js';

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

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'draining in-flight requests, then stopping');
  gateway.stop().then(
    () => {
      logger.info('stopped');
      process.exit(0);
    },
    (error: unknown) => {
      logger.error({ err: error }, 'stop failed');
      process.exit(1);
    },
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

try {
  await gateway.start();
} catch (error) {
  logger.fatal({ err: error }, 'the gateway could not start');
  await gateway.stop().catch(() => undefined);
  process.exit(1);
}
