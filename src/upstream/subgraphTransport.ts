import { EventEmitter } from 'node:events';
import { Pool, type Dispatcher } from 'undici';
import { isSubgraphFailure, SubgraphResponseTooLargeError, SubgraphTimeoutError, SubgraphUnreachableError } from './subgraphErrors.js';
import { SubgraphResponse, type FetcherRequestInit } from './subgraphResponse.js';

/**
 * Connections one subgraph origin gets at most; requests beyond them wait for one, within their deadline. Enough for a
 * subgraph that takes 50 ms to serve 2,500 requests a second; far fewer are open while it answers quickly.
 */
export const DEFAULT_CONNECTIONS_PER_ORIGIN = 128;
/**
 * The most the gateway reads of one subgraph answer: a larger one is refused before it is parsed, so a subgraph that
 * answers a gigabyte costs this much memory at most, not the gigabyte.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface SubgraphTransportOptions {
  connectionsPerOrigin: number;
  maxResponseBytes: number;
}

export interface SubgraphTransport {
  /**
   * One subgraph request: resolves with the whole answer (any status) once it has arrived, within `timeoutMs` from the
   * call, queueing for a connection included; rejects with a `SubgraphRequestError` when the subgraph cannot be
   * reached, does not answer in time or answers more than the cap. Errors that are not the network's (an invalid
   * header, say) are passed on as they are.
   */
  fetch(subgraph: string, timeoutMs: number, url: string, init: FetcherRequestInit): Promise<SubgraphResponse>;
  /** Closes every connection, at once: the gateway stops only after its requests in flight have finished. */
  close(): Promise<void>;
}

/** undici's errors that are the gateway's own mistake, not the subgraph's or the network's. */
const NOT_THE_NETWORK = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_INVALID_RETURN_VALUE']);

/**
 * The gateway's HTTP client for subgraphs: undici, one keep-alive `Pool` per subgraph origin, shared by every data
 * source (and kept across supergraph reloads). undici costs a fraction of node-fetch over Node's http agent, which a
 * profile under many callers found at a third of the gateway's CPU (README, Performance).
 */
export function createSubgraphTransport(options: SubgraphTransportOptions): SubgraphTransport {
  const pools = new Map<string, Pool>();
  const targets = new Map<string, { pool: Pool; path: string }>();
  let closed = false;

  const targetOf = (url: string) => {
    let target = targets.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      let pool = pools.get(parsed.origin);
      if (pool === undefined) {
        // Idle connections close after undici's 4 s, or sooner when the subgraph's Keep-Alive hint says so.
        pool = new Pool(parsed.origin, { connections: options.connectionsPerOrigin });
        pools.set(parsed.origin, pool);
      }
      target = { pool, path: `${parsed.pathname}${parsed.search}` };
      targets.set(url, target);
    }
    return target;
  };

  return {
    async fetch(subgraph, timeoutMs, url, init) {
      if (closed) throw new SubgraphUnreachableError(subgraph, `the ${subgraph} subgraph was not called: the gateway is stopping`);
      const { pool, path } = targetOf(url);
      // One deadline for the whole exchange (undici's own timeouts are per phase and leave out the wait for a
      // connection), cleared as soon as the answer is in. undici takes an EventEmitter that emits `abort` as its
      // signal, which costs less than an AbortController per request (about 15% of a subgraph call's CPU, measured).
      const deadline = new EventEmitter();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        deadline.emit('abort');
      }, timeoutMs);
      try {
        const answer = await pool.request({
          path,
          method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
          headers: init.headers,
          body: init.body,
          signal: deadline,
        });
        const body = await readBounded(answer, subgraph, options.maxResponseBytes);
        return SubgraphResponse.of(url, answer.statusCode, answer.headers, body);
      } catch (error) {
        if (timedOut) throw new SubgraphTimeoutError(subgraph, timeoutMs);
        throw networkFailure(error, subgraph, url);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closed = true;
      const closing = [...pools.values()].map((pool) => pool.destroy());
      pools.clear();
      targets.clear();
      await Promise.all(closing);
    },
  };
}

/**
 * The answer's body as text, refused as soon as it is known to pass `limit`: by its Content-Length before a byte is
 * read, else once the bytes read pass it. Refusing destroys the body, which closes that connection (undici cannot
 * reuse one with an answer half read); the rest of the answer is never read.
 */
function readBounded(answer: Dispatcher.ResponseData, subgraph: string, limit: number): Promise<string> {
  const { body } = answer;
  const declared = Number(answer.headers['content-length']);
  if (declared > limit) {
    const refused = new SubgraphResponseTooLargeError(subgraph, limit, declared);
    // Destroying with an error emits it: it is this one, already handled.
    body.once('error', () => undefined);
    body.destroy(refused);
    return Promise.reject(refused);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    body.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refused = true;
        const error = new SubgraphResponseTooLargeError(subgraph, limit);
        body.destroy(error);
        reject(error);
        return;
      }
      chunks.push(chunk);
    });
    body.once('error', reject);
    body.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, size).toString('utf8')));
  });
}

/** What a failure of undici (or of the socket under it) means for the request. */
function networkFailure(error: unknown, subgraph: string, url: string): unknown {
  if (isSubgraphFailure(error) || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && NOT_THE_NETWORK.has(code)) return error;
  // Node's happy-eyeballs connect fails with an AggregateError whose message is empty; the code says it all.
  const what = error.message === '' ? String(code ?? error.name) : typeof code === 'string' && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  return new SubgraphUnreachableError(subgraph, `the ${subgraph} subgraph at ${url} could not be reached: ${what}`, { cause: error });
}
