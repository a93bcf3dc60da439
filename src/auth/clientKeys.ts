import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import { fetch as undiciFetch } from 'undici';
import type { KeySource } from '../config/index.js';
import type { Logger } from '../common/logger.js';
import { loadOrCreateDevKey } from './devIssuer.js';

/** The public keys that verify client tokens. */
export interface ClientKeys {
  getKey: JWTVerifyGetKey;
  /** Changes whenever the key set changes, so results verified under an older set can be dropped. */
  generation(): number;
  /** True while a new key set is being fetched and installed. */
  reloading(): boolean;
  close(): void;
}

/** Opens the configured key source. A file that cannot be read or holds no usable key fails here, at start. */
export async function openClientKeys(source: KeySource, logger: Logger): Promise<ClientKeys> {
  switch (source.kind) {
    case 'jwks':
      return remoteKeys(source, logger);
    case 'file':
      return staticKeys(await keysFromFile(source.path));
    case 'dev': {
      const devKey = await loadOrCreateDevKey(source.path);
      logger.warn({ file: source.path }, 'development key source: tokens from `npm run token` are accepted; never use this in production');
      return staticKeys({ keys: [devKey.publicJwk] });
    }
    default: {
      const unreachable: never = source;
      throw new Error(`unknown key source ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Keys known at start. A key without a `kid` (as PEM keys are) still verifies a token whose header names a kid,
 * chosen by key type and algorithm, when no key matches the kid itself.
 */
function staticKeys(set: JSONWebKeySet): ClientKeys {
  const byKid = createLocalJWKSet(set);
  const kidless = set.keys.filter((key) => key.kid === undefined);
  const byType = createLocalJWKSet({ keys: kidless });
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await byKid(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || kidless.length === 0) throw error;
      return byType({ ...header, kid: undefined }, token);
    }
  };
  return { getKey, generation: () => 0, reloading: () => false, close: () => undefined };
}

/**
 * An identity provider's JWKS, fetched through jose's remote key set (its timeout, one fetch in flight at a time, its
 * validation of the answer), with keys looked up in the set from the last successful fetch:
 * - only while no set has ever been fetched does a request wait for the provider (and get 503 if it fails); once keys
 *   are known, an unknown `kid` is refused at once and the set is refetched in the background, so a slow or down
 *   provider never holds requests (README: "503 only while no key is known"). A token signed with a newly published
 *   key is accepted once that refetch has completed;
 * - a refetch on an unknown `kid` starts at most once per cooldown, counted from the last fetch attempted, failed ones
 *   included, so a flood of made-up kids cannot hammer the provider, up or down;
 * - the set never expires on its own; a periodic refresh replaces it instead, and a failed one keeps the keys already
 *   known, so a provider outage does not lock every caller out;
 * - every fetch that returns a different set bumps the generation, which drops tokens verified under the old set.
 */
/** A key set is a few keys of a few hundred bytes each: more than this is not one, and is not read. */
const MAX_JWKS_BYTES = 1024 * 1024;

/** The body as text, refused (its connection dropped) once it passes `limit` bytes, declared or sent. */
async function textUpTo(response: Awaited<ReturnType<typeof undiciFetch>>, limit: number): Promise<string> {
  const tooLarge = () => new errors.JOSEError(`the identity provider's key set is larger than ${limit} bytes`);
  if (Number(response.headers.get('content-length') ?? 0) > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop (the throw) cancels the stream, which drops the connection.
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function remoteKeys(source: Extract<KeySource, { kind: 'jwks' }>, logger: Logger): ClientKeys {
  let generation = 0;
  let lastBody: string | undefined;
  // Through the undici the subgraph transport uses (src/upstream/subgraphTransport.ts): one HTTP client in the process,
  // rather than that and the copy Node bundles for its global fetch.
  const fetchAndCompare = async (url: string, init: { headers: Headers; method: string; redirect: 'manual'; signal: AbortSignal }): Promise<Response> => {
    const response = await undiciFetch(url, { headers: [...init.headers], method: init.method, redirect: init.redirect, signal: init.signal });
    if (!response.ok) {
      // Unread, the body would hold the connection until the timeout; jose reads only the status.
      await response.body?.cancel().catch(() => undefined);
      return new Response(null, { status: response.status });
    }
    const body = await textUpTo(response, MAX_JWKS_BYTES);
    if (body !== lastBody) {
      if (lastBody !== undefined) logger.info({ url }, 'the identity provider\'s key set changed');
      lastBody = body;
      generation += 1;
    }
    return new Response(body, { status: response.status, headers: response.headers });
  };
  const remote = createRemoteJWKSet(new URL(source.url), {
    cooldownDuration: source.cooldownMs,
    cacheMaxAge: Number.POSITIVE_INFINITY,
    timeoutDuration: source.timeoutMs,
    [customFetch]: fetchAndCompare,
  });

  // The set keys are looked up in, rebuilt only when a fetch brought a different set: jose caches imported keys per
  // local set, and rebuilding it on every identical refresh would import them again.
  let known: { keys: JWTVerifyGetKey; generation: number } | undefined;
  // Covers the fetch and the installation of its result: `reloading()` must stay true until `known` matches the
  // generation, or a verification in between would be remembered under the new generation with an old key.
  let pending: Promise<JWTVerifyGetKey> | undefined;
  let lastAttemptMs = Number.NEGATIVE_INFINITY;

  const reload = (): Promise<JWTVerifyGetKey> => {
    pending ??= (async () => {
      lastAttemptMs = Date.now();
      try {
        await remote.reload();
        const fetchedGeneration = generation;
        if (known === undefined || known.generation !== fetchedGeneration) {
          const jwks = remote.jwks();
          // Cannot happen after a successful reload; a JOSEError is answered 503, as any failure to get the keys.
          if (jwks === undefined) throw new errors.JOSEError('the identity provider\'s key set was fetched but not kept');
          known = { keys: createLocalJWKSet(jwks), generation: fetchedGeneration };
        }
        return known.keys;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
  const reloadInBackground = (why: string) => {
    reload().catch((error: unknown) => logger.warn({ err: error, url: source.url }, `${why} failed; the known keys stay in use`));
  };

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const keys = known?.keys ?? (await reload());
    try {
      return await keys(header, token);
    } catch (error) {
      const coolingDown = remote.coolingDown || Date.now() - lastAttemptMs < source.cooldownMs;
      if (error instanceof errors.JWKSNoMatchingKey && pending === undefined && !coolingDown) {
        reloadInBackground('refetching the identity provider\'s keys for an unknown kid');
      }
      throw error;
    }
  };
  const refresh = setInterval(() => reloadInBackground('refreshing the identity provider\'s keys'), source.refreshMs);
  refresh.unref();
  return { getKey, generation: () => generation, reloading: () => pending !== undefined, close: () => clearInterval(refresh) };
}

/** Reads public keys from a file: PEM (keys or certificates, one or more), a JWK, or a JWK set. */
async function keysFromFile(path: string): Promise<JSONWebKeySet> {
  const text = await readFile(path, 'utf8');
  let keys: JWK[];
  if (text.trimStart().startsWith('{')) {
    const parsed = JSON.parse(text) as JWK | JSONWebKeySet;
    keys = 'keys' in parsed && Array.isArray(parsed.keys) ? parsed.keys : [parsed as JWK];
  } else {
    const blocks = text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
    // createPublicKey would quietly derive a public key from a private one: a private key here is a mistake to report.
    if (blocks.some((block) => block.includes('PRIVATE KEY'))) throw new Error(`${path} holds a private key: give the gateway public keys only`);
    keys = blocks.map((block) => createPublicKey(block).export({ format: 'jwk' }) as JWK);
  }
  for (const key of keys) {
    if (key.d !== undefined) throw new Error(`${path} holds a private key: give the gateway public keys only`);
    if (key.kty === 'oct') throw new Error(`${path} holds a symmetric key: only public keys (RSA, EC, OKP) verify client tokens`);
  }
  if (keys.length === 0) throw new Error(`${path} holds no public key (expected PEM, a JWK or a JWK set)`);
  return { keys };
}
