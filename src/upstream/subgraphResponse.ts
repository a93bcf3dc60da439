import { STATUS_CODES } from 'node:http';
import type { RemoteGraphQLDataSource } from '@apollo/gateway';

/** The fetcher interface RemoteGraphQLDataSource calls (`@apollo/utils.fetcher`), and what it reads of an answer. */
export type Fetcher = RemoteGraphQLDataSource['fetcher'];
export type FetcherRequestInit = NonNullable<Parameters<Fetcher>[1]>;
type FetcherResponse = Awaited<ReturnType<Fetcher>>;
type FetcherHeaders = FetcherResponse['headers'];

/** Response headers as undici gives them: lower-case names, a list for a repeated header. */
export type RawHeaders = Record<string, string | string[] | undefined>;

/**
 * A subgraph's answer, read whole (and bounded) before anyone sees it, behind the part of the Fetch API that
 * RemoteGraphQLDataSource uses: `ok`, `status`, `headers.get()`, `json()` / `text()`. Reading it whole first puts the
 * body inside the deadline and the size cap, and lets deduplication hand each caller a `clone()` that parses anew:
 * the gateway merges into what it parsed, so no two callers may share the parsed object.
 */
export class SubgraphResponse implements FetcherResponse {
  readonly ok: boolean;
  readonly redirected = false;
  readonly statusText: string;
  private used = false;

  constructor(
    readonly url: string,
    readonly status: number,
    readonly headers: FetcherHeaders,
    private readonly body: string,
  ) {
    this.ok = status >= 200 && status < 300;
    this.statusText = STATUS_CODES[status] ?? '';
  }

  static of(url: string, status: number, headers: RawHeaders, body: string): SubgraphResponse {
    return new SubgraphResponse(url, status, new SubgraphHeaders(headers), body);
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  async text(): Promise<string> {
    this.used = true;
    return this.body;
  }

  async json(): Promise<unknown> {
    this.used = true;
    return JSON.parse(this.body) as unknown;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    this.used = true;
    const bytes = Buffer.from(this.body, 'utf8');
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  clone(): SubgraphResponse {
    return new SubgraphResponse(this.url, this.status, this.headers, this.body);
  }
}

/**
 * Fetch's `Headers` over undici's header object, without copying or validating it again (undici parsed it). Shared
 * by clones: nothing in the gateway changes a response's headers, and a change would be one caller's only if it
 * copied first, as `set` and friends do here.
 */
class SubgraphHeaders implements FetcherHeaders {
  constructor(private raw: RawHeaders) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return typeof value === 'string' ? value : value.join(', ');
  }

  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }

  set(name: string, value: string): void {
    this.raw = { ...this.raw, [name.toLowerCase()]: value };
  }

  append(name: string, value: string): void {
    const current = this.get(name);
    this.set(name, current === null ? value : `${current}, ${value}`);
  }

  delete(name: string): void {
    const { [name.toLowerCase()]: _removed, ...rest } = this.raw;
    this.raw = rest;
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.raw).sort()) {
      const value = this.get(name);
      if (value !== null) yield [name, value];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}
