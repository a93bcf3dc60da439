import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readTopology } from '../topology/composeFile.js';
import { composeSupergraph } from '../topology/composeSupergraph.js';
import { launchTopology } from '../topology/launcher.js';
import { createPrettyOutput } from '../topology/prettyOutput.js';
import type { Command } from './io.js';

/**
 * `gateway start [--file docker-compose.yml] [--production]`: runs the topology the compose file declares as local
 * processes (no Docker): the subgraphs, the gateway and the apps beside it (the storefront). The gateway and the apps
 * run in development mode unless --production keeps each service's NODE_ENV; in development the storefront's sign-in
 * signs with the gateway's development issuer (both read DEV_KEY_FILE). It owns the process: Ctrl-C stops every
 * service, and it exits when the topology ends.
 */
export const startCommand: Command = async (args) => {
  const { values } = parseArgs({
    args,
    options: { file: { type: 'string', default: 'docker-compose.yml' }, production: { type: 'boolean', default: false } },
  });

  // Interrupted while starting: exiting fires the launcher's exit hook, which kills whatever it had started.
  const interruptStart = () => process.exit(130);
  process.once('SIGINT', interruptStart);
  process.once('SIGTERM', interruptStart);

  const topology = await readTopology(values.file);
  await warnWhenSupergraphIsStale();

  // A person at a terminal reads pretty lines; a pipe or a file gets each service's JSON lines unchanged.
  const pretty = process.stdout.isTTY ? createPrettyOutput({ colorize: process.stdout.hasColors() }) : undefined;

  const running = await launchTopology({
    topology,
    baseEnv: { ...process.env, APOLLO_TELEMETRY_DISABLED: 'true' },
    ports: 'declared',
    gatewayEnv: values.production ? {} : { NODE_ENV: 'development' },
    appEnv: values.production ? {} : { NODE_ENV: 'development' },
    output: (service, line, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(`${pretty?.(service, line) ?? line}\n`),
    onRestart: ({ service, code, delayMs, attempt }) => {
      process.stderr.write(`npm start: ${service} exited with code ${code}; restarting in ${delayMs / 1000} s (attempt ${attempt})\n`);
    },
  }).catch((error: unknown) => {
    process.stderr.write(`npm start: ${(error as Error).message}\n`);
    process.exit(1);
  });

  process.stderr.write(
    `\nGateway:  ${running.gatewayUrl}/graphql\n` +
      (values.production ? '' : `Sandbox:  ${running.gatewayUrl}/\n`) +
      `Subgraphs: ${Object.entries(running.subgraphUrls).map(([name, url]) => `${name} ${url}`).join(', ')}\n` +
      Object.entries(running.appUrls).map(([name, url]) => `${name.charAt(0).toUpperCase()}${name.slice(1)}: ${url}/\n`).join('') +
      'Ctrl-C stops them all.\n\n',
  );

  process.removeListener('SIGINT', interruptStart);
  process.removeListener('SIGTERM', interruptStart);
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await running.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  // Only a service that exits for good (restart: no, or its on-failure retries spent) ends the topology.
  void running.exited.then(({ service, code }) => {
    process.stderr.write(`npm start: ${service} exited with code ${code}; stopping the rest.\n`);
    void stop(1);
  });

  async function warnWhenSupergraphIsStale(): Promise<void> {
    const path = resolve(topology.projectDir, topology.gateway.environment['SUPERGRAPH_PATH'] ?? 'schema/supergraph.graphql');
    const [composed, committed] = await Promise.all([composeSupergraph(topology.subgraphs), readFile(path, 'utf8').catch(() => '')]);
    if (!composed.ok) {
      process.stderr.write(`npm start: the subgraphs do not compose:\n  - ${composed.errors.join('\n  - ')}\n`);
      process.exit(1);
    }
    if (composed.supergraphSdl !== committed) {
      process.stderr.write(`npm start: ${path} does not match the subgraphs in ${values.file}; run \`npm run compose\` to update it.\n`);
    }
  }

  // Runs until a signal or the topology's end exits the process.
  return new Promise<number>(() => undefined);
};
