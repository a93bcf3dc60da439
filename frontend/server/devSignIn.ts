import { decodeJwt } from 'jose';
import { loadOrCreateDevKey, signDevToken, type DevKey } from '../../src/auth/devIssuer.js';
import type { DemoUser, DevSignInResponse } from '../src/runtimeConfig.js';

export interface DevSignInOptions {
  /** The development issuer's key file the gateway trusts (`DEV_KEY_FILE`); created on first use if missing. */
  keyFile: string;
  /** Whom a visitor may sign in as: the demo's users. */
  users: readonly DemoUser[];
  /** Lifetime of a token, in seconds. */
  ttlSec: number;
}

export type DevSignInResult = { ok: true; response: DevSignInResponse } | { ok: false; error: string };

/**
 * Signs a short-lived token for one demo user with the gateway's development issuer, as `npm run token` does: no
 * roles, no scopes, the user's id as the subject. Only a storefront outside production has one of these.
 */
export function createDevSignIn(options: DevSignInOptions): (userId: unknown) => Promise<DevSignInResult> {
  let key: Promise<DevKey> | undefined;
  return async (userId) => {
    const user = options.users.find((candidate) => candidate.id === userId);
    if (user === undefined) return { ok: false, error: `userId must be one of ${options.users.map((candidate) => `"${candidate.id}"`).join(', ')}` };
    // Read once, as the gateway reads it once at start; a failed read is tried again on the next sign-in.
    key ??= loadOrCreateDevKey(options.keyFile).catch((error: unknown) => {
      key = undefined;
      throw error;
    });
    const token = await signDevToken(await key, { subject: user.id, roles: [], scopes: [], ttlSec: options.ttlSec });
    const { exp } = decodeJwt(token);
    return { ok: true, response: { token, expiresAt: exp ?? 0, user: { id: user.id, name: user.name } } };
  };
}
