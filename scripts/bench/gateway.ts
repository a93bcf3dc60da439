// The gateway process the benchmark runs: src/main.ts's gateway, plus the one switch that exists only to measure a
// lever, BENCH_SUBGRAPH_FETCHER=apollo-default (RemoteGraphQLDataSource's own fetcher instead of the keep-alive one).
// It is not part of the gateway's configuration: no deployment has a reason to set it.
import { createGateway } from '../../src/gateway.js';
import { configModulePath, importConfigModule, loadConfigOrExit } from '../../src/config/index.js';
import { createLogger, lifecycleLogger } from '../../src/common/logger.js';
import { stopOnSignals } from '../../src/common/stopOnSignals.js';

const modulePath = configModulePath(undefined, process.env, process.cwd());
const config = loadConfigOrExit(process.env, { module: modulePath === undefined ? undefined : await importConfigModule(modulePath) });
const logger = createLogger({ level: config.logLevel, base: { service: 'gateway' } });
const fetcher = process.env['BENCH_SUBGRAPH_FETCHER'] === 'apollo-default' ? 'apollo-default' : 'keepalive';
const gateway = createGateway(config, { logger, subgraphFetcher: fetcher });
stopOnSignals(() => gateway.stop(), lifecycleLogger(logger));
await gateway.start();
