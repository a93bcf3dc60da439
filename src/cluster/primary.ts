import cluster, { type Worker } from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { AggregatorRegistry } from 'prom-client';
import type { GatewayConfig } from '../config/index.js';
import { lifecycleLogger, type Logger } from '../common/logger.js';

/** More worker deaths than this within a minute stop the whole gateway (exit 1) instead of restarting forever. */
const MAX_DEATHS_PER_MINUTE = 5;

/** Set in a worker's environment: the gateway runs as one of several processes sharing the port. */
export const WORKER_ENV = 'GATEWAY_WORKER';

/**
 * Runs `config.workers` gateway processes sharing the port (node:cluster, round-robin), and keeps them running:
 * - one signing key for all of them (a generated key written to a private temporary file, unless a key file is
 *   configured), since subgraphs fetch the JWKS from whichever worker answers;
 * - Prometheus metrics aggregated over the workers on the metrics port, when one is configured;
 * - a worker that dies is replaced; SIGTERM or SIGINT drains every worker, then exits 0.
 * Rate budgets are shared through Redis (required by the configuration when there are several workers).
 */
export async function runPrimary(config: GatewayConfig, logger: Logger): Promise<void> {
  const log = lifecycleLogger(logger);
  let keyDir: string | undefined;
  const env: Record<string, string> = { [WORKER_ENV]: '1' };
  if (config.subgraphTokens.signingKeyFile === undefined) {
    keyDir = await mkdtemp(join(tmpdir(), 'gateway-key-'));
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const file = join(keyDir, 'signing-key.pem');
    await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    env['GATEWAY_SIGNING_KEY_FILE'] = file;
  }

  let stopping = false;
  const fork = (): Worker => cluster.fork(env);
  // A worker that dies is replaced after a pause that doubles with every death in the last minute; a worker that
  // cannot start at all (bad supergraph, port taken) must not make the primary fork forever.
  const deaths: number[] = [];
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const now = Date.now();
    deaths.push(now);
    while ((deaths[0] ?? now) < now - 60_000) deaths.shift();
    if (deaths.length > MAX_DEATHS_PER_MINUTE) {
      logger.fatal({ deaths: deaths.length }, 'gateway workers keep dying; stopping');
      void stop('SIGTERM', 1);
      return;
    }
    const pauseMs = Math.min(30_000, 250 * 2 ** (deaths.length - 1));
    logger.error({ worker: worker.id, code, signal, restartInMs: pauseMs }, 'a gateway worker died; starting another');
    setTimeout(() => {
      if (!stopping) fork();
    }, pauseMs);
  });
  for (let index = 0; index < config.workers; index += 1) fork();

  let closeMetrics: (() => Promise<void>) | undefined;
  if (config.metrics.kind === 'port') {
    const aggregator = new AggregatorRegistry();
    const metricsApp = Fastify({ logger: false });
    metricsApp.get('/metrics', async (_request, reply) => {
      try {
        return reply.header('content-type', aggregator.contentType).send(await aggregator.clusterMetrics());
      } catch (error) {
        // A worker that is starting does not answer yet: the scrape is retried, the error not worth a 500 page.
        logger.warn({ err: error }, 'collecting metrics from the workers failed');
        return reply.code(503).send('metrics unavailable: a worker did not answer\n');
      }
    });
    await metricsApp.listen({ host: config.metrics.host, port: config.metrics.port });
    closeMetrics = () => metricsApp.close();
    log.info({ url: `http://${config.metrics.host}:${(metricsApp.server.address() as { port: number }).port}/metrics`, workers: config.workers }, 'metrics listening');
  }

  const stop = async (signal: NodeJS.Signals, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'stopping every worker');
    const exits = Object.values(cluster.workers ?? {}).map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker === undefined || worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          worker.process.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
    await closeMetrics?.();
    if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
    log.info('stopped');
    process.exit(exitCode);
  };
  process.on('SIGTERM', (signal) => void stop(signal));
  process.on('SIGINT', (signal) => void stop(signal));
}
