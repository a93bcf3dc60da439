import type { Target } from './measure.js';

/** What bench.ts hands each workload of its own (abuse, planMiss). */
export interface BenchContext {
  /**
   * The gateway with a rate budget (`far`: far above any load, so it never refuses; `default`: the gateway's own, as
   * a deployment that sets none has it) and `env` on top of the benchmark's environment, `--gateway-env` on top of
   * everything. Started afresh, on the same port, when the running one has other settings.
   */
  gateway(options: { budget: 'far' | 'default'; env?: Readonly<Record<string, string>> }): Promise<Target>;
  /** A client token for `subject`, signed by the benchmark's issuer, valid for two hours. */
  token(subject: string): Promise<string>;
  testQuery: string;
  durationSec: number;
  warmupSec: number;
  rounds: number;
  connections: number;
  /** Progress, on stderr. */
  log(line: string): void;
}

/** POSTs one GraphQL query and returns the status and the body's text. */
export async function post(url: string, query: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
  return { status: response.status, text: await response.text() };
}

/** Throws unless `text` is a 200 answer with data and no errors: a gateway that denies or fails measures nothing. */
export function assertAnswered(what: string, status: number, text: string): void {
  let body: { data?: unknown; errors?: unknown[] } | undefined;
  try {
    body = JSON.parse(text) as { data?: unknown; errors?: unknown[] };
  } catch {
    body = undefined;
  }
  if (status !== 200 || body?.data == null || body.errors !== undefined) throw new Error(`${what} is answered ${status}: ${text.slice(0, 300)}`);
}
