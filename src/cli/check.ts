import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { apiSchemaOf } from '../authz/accessMatrix.js';
import { validationRules } from '../limits/validationRules.js';
import { readTrustedDocuments } from '../trustedDocuments/trustedDocumentList.js';
import { validateTrustedDocuments } from '../trustedDocuments/validateDocuments.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { CONFIG_OPTION, configModuleFor } from './configOption.js';
import type { Command } from './io.js';

/**
 * `gateway check [--config <module>]`: the effective security settings of the configuration (the module with the
 * environment over it), and the verdict the gateway would give at start (in production, every protection must be on).
 * Exits 1 when it would not start.
 */
export const checkCommand: Command = async (args, io) => {
  const { values } = parseArgs({ args, options: { ...CONFIG_OPTION } });
  let config;
  try {
    config = loadConfig(io.env, { module: await configModuleFor(values.config, io) });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`${error.message}\n\nVerdict: the gateway would refuse to start.\n`);
    return 1;
  }

  const onOff = (value: boolean) => (value ? 'on' : 'off');
  const limit = (value: number | 'off') => String(value);
  const source = config.auth.keySource;
  const settings: [string, string][] = [
    ['mode', config.mode],
    ['client tokens', source.kind === 'jwks' ? `JWKS ${source.url}` : source.kind === 'file' ? `key file ${source.path}` : `development issuer (${source.path})`],
    ['issuer / audience', `${config.auth.issuer} / ${config.auth.audience.join(', ')}`],
    ['algorithms', config.auth.algorithms.join(', ')],
    ['authentication required', onOff(config.auth.required)],
    ['introspection', onOff(config.introspection)],
    ['sandbox', onOff(config.sandbox)],
    ['explorer', onOff(config.explorer)],
    ['csrf prevention', onOff(config.csrfPrevention)],
    ['cors', config.corsOrigins.length === 0 ? 'same-origin only' : `${config.corsOrigins.join(', ')}${config.corsCredentials ? ' (with credentials)' : ''}`],
    ['denied query fields', config.deniedQueryFields],
    ['max depth / aliases / root fields / directives', [config.limits.maxDepth, config.limits.maxAliases, config.limits.maxRootFields, config.limits.maxDirectives].map(limit).join(' / ')],
    ['max tokens / length / expanded selections / cost', [config.limits.maxTokens, config.limits.maxQueryLength, config.limits.maxExpandedSelections, config.limits.maxCost].map(limit).join(' / ')],
    ['max errors per answer', String(config.limits.maxErrors)],
    ['field caps', Object.entries(config.limits.fieldCaps).map(([field, cap]) => `${field}=${cap}`).join(', ') || 'none'],
    ['rate limit', config.rateLimit.points === 'off' ? 'off' : `${config.rateLimit.points} points / ${config.rateLimit.windowSec} s, ${config.rateLimit.redisUrl === undefined ? 'per process' : 'shared through Redis'}`],
    ['client blocking', config.clientBlocking.mode === 'off' ? 'off' : `${config.clientBlocking.mode}, score ${config.clientBlocking.threshold} in ${config.clientBlocking.decayWindowSec} s, cooldowns ${config.clientBlocking.cooldownsSec.join(' / ')} s, ${config.rateLimit.redisUrl === undefined ? 'per process' : 'shared through Redis'}`],
    ['public data cache', config.cache.mode === 'off' ? 'off (public fetches still shared in flight)' : config.cache.mode === 'memory' ? `in each process, ${config.cache.maxEntries} entries / ${config.cache.maxMiB} MiB` : `shared through Redis (${config.cache.keyPrefix}), ${config.cache.maxEntries} entries / ${config.cache.maxMiB} MiB per process while it is away`],
    ['plan miss / plan cache', `${config.rateLimit.planMissPoints} points / ${config.planCacheMiB} MiB`],
    ['request / header / keep-alive timeout', `${config.connections.requestTimeoutMs} / ${config.connections.headersTimeoutMs} / ${config.connections.keepAliveTimeoutMs} ms`],
    ['connections per client', limit(config.connections.maxPerClient)],
    ['token lifetime at most', `${config.auth.maxLifetimeSec} s`],
    ['automatic persisted queries', onOff(config.automaticPersistedQueries)],
    ['trusted documents', config.trustedDocuments.manifests.length === 0 ? 'no manifests' : `${config.trustedDocuments.mode}, ${config.trustedDocuments.manifests.join(', ')}${config.trustedDocuments.bypassRoles.length > 0 ? `, bypass for ${config.trustedDocuments.bypassRoles.join(', ')}` : ''}`],
    ['body limit', `${config.bodyLimitBytes} bytes`],
    ['forwarded headers', config.forwardHeaders.join(', ') || 'none'],
    ['public subgraph error codes', config.publicErrorCodes.join(', ')],
    ['trusted proxies', config.trustedProxies.join(', ') || 'none'],
    ['subgraph auth', [`${config.subgraphAuthDefault ?? 'mint'} by default`, ...Object.entries(config.subgraphAuth ?? {}).map(([name, mode]) => `${name}: ${mode}`)].join(', ')],
  ];
  const width = Math.max(...settings.map(([name]) => name.length));
  io.stdout(`${settings.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\n`);

  // Every trusted document against the supergraph it will be served with: a subgraph change that breaks a shipped
  // operation fails here, in CI, before it lands.
  let broken = 0;
  if (config.trustedDocuments.manifests.length > 0) {
    let documents;
    try {
      documents = await readTrustedDocuments(config.trustedDocuments.manifests.map((path) => resolve(io.cwd, path)));
    } catch (error) {
      io.stderr(`\n${(error as Error).message}\n\nVerdict: the gateway would refuse to start.\n`);
      return 1;
    }
    const schema = apiSchemaOf(await readFile(resolve(io.cwd, config.supergraphPath), 'utf8'));
    const { problems } = validateTrustedDocuments(schema, documents, {
      rules: validationRules(config),
      ...(config.limits.maxTokens === 'off' ? {} : { maxTokens: config.limits.maxTokens }),
    });
    broken = problems.length;
    for (const { document, errors } of problems) io.stderr(`trusted document ${document.name} (${document.manifest}, id ${document.id}) does not validate against ${config.supergraphPath}: ${errors.join('; ')}\n`);
    io.stdout(`\n${documents.length - broken} of ${documents.length} trusted documents validate against ${config.supergraphPath}.\n`);
  }
  if (config.mode === 'production' && config.trustedDocuments.mode !== 'enforce') {
    io.stdout(`\nNote: trusted documents are not enforced (TRUSTED_DOCUMENTS=${config.trustedDocuments.mode}): any client may send any document. For first-party apps, set TRUSTED_DOCUMENTS=enforce with their manifests.\n`);
  }
  if (broken > 0) {
    io.stdout(`\nVerdict: ${broken} trusted document${broken === 1 ? '' : 's'} would fail against this supergraph.\n`);
    return 1;
  }
  io.stdout(`\nVerdict: the gateway would start.\n`);
  return 0;
};
