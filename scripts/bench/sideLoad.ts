// A second client beside the measured load: bombs at a steady rate, or a flood of new documents as fast as the
// gateway answers. It runs in a worker thread, so that its own work (thousands of refusals a second, in a flood) does
// not delay the event loop autocannon measures the main load's latency on. The worker runs the compiled module
// (dist/, which `npm run bench` builds first): tsx's loader does not reach into worker threads.
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { BOMB_SHAPES, bombDocument, planMissAnswer, planMissDocument, quadraticDocument } from './documents.js';
import { percentile } from './stats.js';

export type SideDocuments =
  /** The bomb shapes in turn; each answer must be 400 GRAPHQL_VALIDATION_FAILED with MAX_RECURSIVE_SELECTIONS_EXCEEDED. */
  | 'bombs'
  /** The quadratic-validation document; 200 and 400 are both recorded, anything else is a failure. */
  | 'quadratic'
  /** Plan-miss documents; each answer must be the exact expected data (200) or 429 RATE_LIMITED. */
  | 'planMiss';

export interface SideLoadSpec {
  url: string;
  seconds: number;
  headers: Record<string, string>;
  /** `rate`: a request every 1/perSec s whatever the answers (open loop). `closed`: `concurrency` requests always in flight. */
  pacing: { mode: 'rate'; perSec: number; maxSockets: number } | { mode: 'closed'; concurrency: number };
  documents: SideDocuments;
  /** The number of the first document, so that no two runs send the same text. */
  firstIndex: number;
  /** Send nothing more once a 429 came back (a client that honours Retry-After, for the rest of the run). */
  stopWhenRefused?: boolean;
}

export interface SideLoadResult {
  sent: number;
  answered: number;
  /** Answers that were not what this kind of document must get (and errors); counted by `outcomes` too. */
  failures: number;
  /** Answers by status and error codes, e.g. `400 GRAPHQL_VALIDATION_FAILED/MAX_RECURSIVE_SELECTIONS_EXCEEDED`. */
  outcomes: Record<string, number>;
  /** Failures by document shape (bombs only). */
  failuresByShape: Record<string, number>;
  /** The first failure's status and the start of its body, to tell what went wrong. */
  firstFailure: string | undefined;
  answersPerSec: number;
  /** From when the request was due (open loop) or sent (closed loop) to its whole answer. */
  latencyMs: { p50: number; p99: number; max: number };
  /** Date.now() of the first request, of the last 200 and of the first 429 (undefined when there was none). */
  startedAt: number;
  lastAdmittedAt: number | undefined;
  firstRefusedAt: number | undefined;
  /** The first number no document of this run used. */
  nextIndex: number;
}

export interface SideLoad {
  /** Resolves once the worker is loaded and waiting; `start` then begins at once. */
  ready: Promise<void>;
  start(): void;
  result: Promise<SideLoadResult>;
}

/** Starts a worker for `spec`; it sends nothing until `start()`. */
export function startSideLoad(spec: SideLoadSpec): SideLoad {
  const here = fileURLToPath(import.meta.url);
  const compiled = here.endsWith('.ts') ? join(resolve(dirname(here), '../..'), 'dist/scripts/bench/sideLoad.js') : here;
  if (!existsSync(compiled)) throw new Error(`the side load runs compiled, from ${compiled}: run npm run build (tsconfig.build.json must include scripts/bench/)`);
  const worker = new Worker(compiled, { workerData: { sideLoad: spec } });
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolveReady) => {
    markReady = resolveReady;
  });
  const result = new Promise<SideLoadResult>((resolveResult, reject) => {
    worker.on('message', (message: { type: 'ready' } | { type: 'result'; result: SideLoadResult }) => {
      if (message.type === 'ready') markReady();
      else resolveResult(message.result);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the side load worker exited (code ${code}) before reporting`)));
  });
  result.catch(() => undefined);
  return { ready, start: () => worker.postMessage('start'), result };
}

interface Document {
  body: string;
  shape: string;
  /** Whether the answer is one this document may get. */
  check(status: number, body: string): boolean;
}

function documentFor(kind: SideDocuments, n: number): Document {
  switch (kind) {
    case 'bombs': {
      const shape = BOMB_SHAPES[n % BOMB_SHAPES.length] ?? 'deep';
      return { body: JSON.stringify({ query: bombDocument(shape, n) }), shape, check: (status, body) => status === 400 && isExpansionRefusal(body) };
    }
    case 'quadratic':
      return { body: JSON.stringify({ query: quadraticDocument(n) }), shape: 'quadratic', check: (status) => status === 200 || status === 400 };
    case 'planMiss': {
      const answer = planMissAnswer(n);
      return { body: JSON.stringify({ query: planMissDocument(n) }), shape: 'planMiss', check: (status, body) => (status === 200 && body.trimEnd() === answer) || (status === 429 && outcomeOf(status, body) === '429 RATE_LIMITED') };
    }
    default: {
      const unknown: never = kind;
      throw new Error(`unknown side documents ${String(unknown)}`);
    }
  }
}

interface ErrorBody {
  errors?: { extensions?: { code?: unknown; validationErrorCode?: unknown } }[];
}

function parseErrors(body: string): ErrorBody['errors'] {
  try {
    return (JSON.parse(body) as ErrorBody).errors;
  } catch {
    return undefined;
  }
}

/** Every error a validation failure, one of them the expansion bound's. */
function isExpansionRefusal(body: string): boolean {
  const errors = parseErrors(body) ?? [];
  return (
    errors.length > 0 &&
    errors.every((error) => error.extensions?.code === 'GRAPHQL_VALIDATION_FAILED') &&
    errors.some((error) => error.extensions?.validationErrorCode === 'MAX_RECURSIVE_SELECTIONS_EXCEEDED')
  );
}

/** `status code[/validationErrorCode]`, distinct codes in order. */
function outcomeOf(status: number, body: string): string {
  const codes = new Set<string>();
  for (const error of parseErrors(body) ?? []) {
    const code = typeof error.extensions?.code === 'string' ? error.extensions.code : 'NO_CODE';
    const detail = typeof error.extensions?.validationErrorCode === 'string' ? `/${error.extensions.validationErrorCode}` : '';
    codes.add(`${code}${detail}`);
  }
  return codes.size === 0 ? String(status) : `${status} ${[...codes].join(' ')}`;
}

async function run(spec: SideLoadSpec): Promise<SideLoadResult> {
  const target = new URL(spec.url);
  const sockets = spec.pacing.mode === 'rate' ? spec.pacing.maxSockets : spec.pacing.concurrency;
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const outcomes: Record<string, number> = {};
  const failuresByShape: Record<string, number> = {};
  const latencies: number[] = [];
  let sent = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  let lastAdmittedAt: number | undefined;
  let firstRefusedAt: number | undefined;
  const startedAt = Date.now();
  const endAt = startedAt + spec.seconds * 1000;

  const send = (n: number, dueAt: number) =>
    new Promise<void>((resolveSent) => {
      let settled = false;
      const done = () => {
        if (settled) return false;
        settled = true;
        resolveSent();
        return true;
      };
      const document = documentFor(spec.documents, n);
      sent += 1;
      const count = (outcome: string, ok: boolean, detail = '') => {
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        if (!ok) {
          failures += 1;
          firstFailure ??= `${outcome}: ${detail.slice(0, 300)}`;
          failuresByShape[document.shape] = (failuresByShape[document.shape] ?? 0) + 1;
        }
      };
      const outgoing = request(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...spec.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(document.body) } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            if (!done()) return;
            const now = Date.now();
            latencies.push(now - dueAt);
            const status = response.statusCode ?? 0;
            const body = Buffer.concat(chunks).toString('utf8');
            if (status === 200) lastAdmittedAt = now;
            if (status === 429) firstRefusedAt ??= now;
            count(outcomeOf(status, body), document.check(status, body), body);
          });
          response.on('error', () => {
            if (done()) count('response error', false);
          });
        },
      );
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        if (done()) count(`request error ${error.code ?? error.message}`, false);
      });
      outgoing.end(document.body);
    });

  const inFlight: Promise<void>[] = [];
  let n = spec.firstIndex;
  if (spec.pacing.mode === 'rate') {
    const intervalMs = 1000 / spec.pacing.perSec;
    for (let index = 0; ; index += 1) {
      const dueAt = startedAt + index * intervalMs;
      if (dueAt >= endAt || (spec.stopWhenRefused && firstRefusedAt !== undefined)) break;
      const wait = dueAt - Date.now();
      if (wait > 0) await new Promise((wake) => setTimeout(wake, wait));
      inFlight.push(send(n, dueAt));
      n += 1;
    }
  } else {
    const loop = async () => {
      while (Date.now() < endAt && !(spec.stopWhenRefused && firstRefusedAt !== undefined)) {
        const index = n;
        n += 1;
        await send(index, Date.now());
      }
    };
    inFlight.push(...Array.from({ length: spec.pacing.concurrency }, loop));
  }
  await Promise.all(inFlight);
  agent.destroy();
  const elapsedSec = (Date.now() - startedAt) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    sent,
    answered: latencies.length,
    failures,
    outcomes,
    failuresByShape,
    firstFailure,
    answersPerSec: Number((latencies.length / elapsedSec).toFixed(1)),
    latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? 0 },
    startedAt,
    lastAdmittedAt,
    firstRefusedAt,
    nextIndex: n,
  };
}

if (!isMainThread && parentPort !== null && (workerData as { sideLoad?: SideLoadSpec } | null)?.sideLoad !== undefined) {
  const port = parentPort;
  const spec = (workerData as { sideLoad: SideLoadSpec }).sideLoad;
  port.once('message', () => {
    void run(spec).then((result) => {
      port.postMessage({ type: 'result', result });
      port.close();
    });
  });
  port.postMessage({ type: 'ready' });
}
