// The gateway process: reads the config module GATEWAY_CONFIG names (if any) and the environment over it, serves, and
// drains on SIGTERM or SIGINT. With GATEWAY_WORKERS > 1 this process is the cluster primary and each worker runs this
// file again, as a gateway.
import cluster from 'node:cluster';
import { runPrimary, WORKER_ENV } from './cluster/primary.js';
import { configModulePath, importConfigModule, loadConfigOrExit, type GatewayConfig, type GatewayConfigInput } from './config/index.js';
import { createGateway } from './gateway.js';
import { createLogger, lifecycleLogger, type Logger } from './common/logger.js';
import { stopOnSignals } from './common/stopOnSignals.js';

const modulePath = configModulePath(undefined, process.env, process.cwd());
const config = loadConfigOrExit(process.env, { module: await configModule(modulePath) });

// In a cluster, every line says which worker wrote it.
const logger = createLogger({ level: config.logLevel, base: { service: 'gateway', ...(cluster.isWorker ? { worker: cluster.worker?.id } : {}) } });
if (config.workers > 1 && cluster.isPrimary) await runPrimary(config, logger);
else await runGateway(config, logger, process.env[WORKER_ENV] === '1');

async function runGateway(config: GatewayConfig, logger: Logger, clusterWorker: boolean): Promise<void> {
  const gateway = createGateway(config, { logger, clusterWorker });
  // Drains: requests in flight finish (up to SHUTDOWN_TIMEOUT_MS), then every resource is released.
  stopOnSignals(() => gateway.stop(), lifecycleLogger(logger));
  try {
    await gateway.start();
  } catch (error) {
    logger.fatal({ err: error }, 'the gateway could not start');
    await gateway.stop().catch(() => undefined);
    process.exit(1);
  }
}

async function configModule(path: string | undefined): Promise<GatewayConfigInput | undefined> {
  if (path === undefined || path === '') return undefined;
  try {
    return await importConfigModule(path);
  } catch (error) {
    process.stderr.write(`Invalid configuration:\n  - the config module (GATEWAY_CONFIG or --config): ${(error as Error).message}\n`);
    process.exit(2);
  }
}
