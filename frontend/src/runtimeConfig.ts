/**
 * What the storefront server tells the page at `/config.json`: everything that differs per deployment, so that one
 * bundle runs against any gateway. Shared by the server (which writes it) and the page (which reads it); neither
 * DOM nor Node types, so both type-check it.
 */
export interface StorefrontRuntimeConfig {
  /** The gateway's GraphQL endpoint, e.g. `http://localhost:4000/graphql`. */
  graphqlUrl: string;
  signIn: SignInConfig;
}

/** A demo user the development sign-in may sign a token for. */
export interface DemoUser {
  id: string;
  name: string;
}

/**
 * How a visitor signs in. `development`: the storefront server signs a short-lived token with the gateway's local
 * development issuer (POST `path` with `{ "userId": "1" }`). `identity-provider`: production, where the storefront
 * signs nothing and tokens come from the real identity provider.
 */
export type SignInConfig = { mode: 'development'; path: string; users: readonly DemoUser[] } | { mode: 'identity-provider' };

/** The path of `StorefrontRuntimeConfig` on the storefront server. */
export const RUNTIME_CONFIG_PATH = '/config.json';

/** What `POST /dev/sign-in` answers. */
export interface DevSignInResponse {
  token: string;
  /** When the token expires, in seconds since the epoch. */
  expiresAt: number;
  user: DemoUser;
}

/**
 * Checks the shape of a `/config.json` answer, so that a misconfigured server fails with a message on the page rather
 * than with a `TypeError` deep inside the client.
 */
export function parseRuntimeConfig(value: unknown): StorefrontRuntimeConfig {
  if (!isRecord(value) || typeof value['graphqlUrl'] !== 'string') throw new Error('config.json: graphqlUrl must be a string');
  const signIn = value['signIn'];
  if (!isRecord(signIn)) throw new Error('config.json: signIn must be an object');
  if (signIn['mode'] === 'identity-provider') return { graphqlUrl: value['graphqlUrl'], signIn: { mode: 'identity-provider' } };
  if (signIn['mode'] !== 'development' || typeof signIn['path'] !== 'string' || !Array.isArray(signIn['users'])) {
    throw new Error('config.json: signIn must be { mode: "development", path, users } or { mode: "identity-provider" }');
  }
  const users = signIn['users'].map((user: unknown) => {
    if (!isRecord(user) || typeof user['id'] !== 'string' || typeof user['name'] !== 'string') throw new Error('config.json: each user needs an id and a name');
    return { id: user['id'], name: user['name'] };
  });
  return { graphqlUrl: value['graphqlUrl'], signIn: { mode: 'development', path: signIn['path'], users } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
