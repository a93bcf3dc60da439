import { parseArgs } from 'node:util';
import { loadOrCreateDevKey, signDevToken } from '../auth/devIssuer.js';
import { CONFIG_OPTION, configFor } from './configOption.js';
import type { Command } from './io.js';
import { EXPLORER_PATH } from '../explorer/explorerPage.js';

/**
 * `gateway token [--sub 1] [--roles admin] [--scopes "read write"] [--ttl 3600]`: prints a token that a development
 * gateway (no key source configured) accepts, for Sandbox's Authorization header.
 */
export const tokenCommand: Command = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: { sub: { type: 'string', default: '1' }, roles: { type: 'string', default: '' }, scopes: { type: 'string', default: '' }, ttl: { type: 'string', default: '3600' }, ...CONFIG_OPTION },
  });
  const config = await configFor(values.config, io);
  if (config === undefined) return 2;
  const source = config.auth.keySource;
  if (config.mode === 'production') {
    io.stderr('npm run token signs development tokens only, never for a production gateway: get a token from your identity provider.\n');
    return 2;
  }
  if (source.kind !== 'dev') {
    io.stderr(`npm run token signs development tokens only, for a gateway in development mode with no key source; this configuration uses ${source.kind === 'jwks' ? 'JWT_JWKS_URL' : 'JWT_PUBLIC_KEYS'}: get a token from your identity provider.\n`);
    return 2;
  }
  const ttlSec = Number(values.ttl);
  if (!Number.isInteger(ttlSec) || ttlSec <= 0) {
    io.stderr('--ttl must be a positive number of seconds\n');
    return 2;
  }
  const split = (value: string) => value.split(/[\s,]+/).filter(Boolean);
  const token = await signDevToken(await loadOrCreateDevKey(source.path), {
    subject: values.sub,
    roles: split(values.roles),
    scopes: split(values.scopes),
    ttlSec,
    issuer: config.auth.issuer,
    audience: config.auth.audience[0] ?? '',
  });
  io.stdout(`${token}\n`);
  io.stderr(`Paste into Sandbox's headers:  Authorization: Bearer ${token.slice(0, 12)}...\n`);
  if (config.explorer) {
    // In the fragment, which the browser never sends: the token reaches no server log, and the page takes it out of
    // the address once read (src/explorer/explorer.client.js).
    io.stderr(`Or open the explorer with it in the headers:  ${explorerUrl(config.host, config.port)}#token=${token}\n`);
  }
  return 0;
};

/** Where a browser on this machine opens the explorer: a loopback or wildcard address is `localhost`. */
function explorerUrl(host: string, port: number): string {
  const local = ['127.0.0.1', '::1', '0.0.0.0', '::', 'localhost'].includes(host);
  return `http://${local ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${port === 0 ? 4000 : port}${EXPLORER_PATH}`;
}
