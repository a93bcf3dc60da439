// npm run token -- --sub 1 --roles admin [--scopes "read write"] [--ttl 3600]
// Prints a token that a development gateway (no key source configured) accepts, for Sandbox's Authorization header.
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../src/config/index.js';
import { loadOrCreateDevKey, signDevToken } from '../src/auth/devIssuer.js';

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: '1' },
    roles: { type: 'string', default: '' },
    scopes: { type: 'string', default: '' },
    ttl: { type: 'string', default: '3600' },
  },
});

const config = loadConfigOrExit(process.env);
const source = config.auth.keySource;
if (source.kind !== 'dev') {
  process.stderr.write(`npm run token signs development tokens only, for a gateway in development mode with no key source; this configuration uses ${source.kind === 'jwks' ? 'JWT_JWKS_URL' : 'JWT_PUBLIC_KEYS'}: get a token from your identity provider.\n`);
  process.exit(2);
}
const ttlSec = Number(values.ttl);
if (!Number.isInteger(ttlSec) || ttlSec <= 0) {
  process.stderr.write('--ttl must be a positive number of seconds\n');
  process.exit(2);
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
process.stdout.write(`${token}\n`);
process.stderr.write(`Paste into Sandbox's headers:  Authorization: Bearer ${token.slice(0, 12)}...\n`);
