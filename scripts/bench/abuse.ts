// The abuse workload (issue 9, "rejecting abuse must cost the gateway nothing"): the TestQuery load measured alone,
// with fragment-expansion bombs sent beside it at a steady rate, and with graphql-js's quadratic validation shape
// sent beside it at the same rate, the three phases alternating round by round. Bombs come from a second,
// anonymous client; every bomb answer must be the expansion bound's 400.
import { BOMB_SHAPES, bombDocument, quadraticDocument } from './documents.js';
import { assertAnswered, post, type BenchContext } from './context.js';
import { cpuMs, load, median, untilIdle, type Round, type Target } from './measure.js';
import { startSideLoad, type SideDocuments, type SideLoadResult } from './sideLoad.js';
import { medianOf, rotations } from './stats.js';

type Phase = 'alone' | 'bombs' | 'quadratic';
const PHASES: readonly Phase[] = ['alone', 'bombs', 'quadratic'];
/** Sockets the side client may open: with the main load's 50, under MAX_CONNECTIONS_PER_CLIENT (64), all from 127.0.0.1. */
const SIDE_SOCKETS = 8;
/** Requests in flight when the gateway answers only bombs, to see what each costs it. */
const FLAT_OUT_CONCURRENCY = 4;

export interface SideSummary {
  /** Per second, as sent (open loop). */
  ratePerSec: number;
  sent: number;
  answered: number;
  failures: number;
  outcomes: Record<string, number>;
  failuresByShape: Record<string, number>;
  /** Medians over the rounds. */
  answersPerSec: number;
  p50: number;
  p99: number;
  max: number;
}

export interface FlatOut {
  concurrency: number;
  durationSec: number;
  answersPerSec: number;
  /** The gateway's CPU over the run divided by the answers: what one costs it. */
  gatewayCpuMsPerAnswer: number;
  p50: number;
  p99: number;
  outcomes: Record<string, number>;
  failures: number;
}

export interface AbuseSummary {
  note: string;
  /** The main load, median of the rounds of each phase. */
  normal: Record<Phase, Round>;
  /** Main load with the side client over alone: requests per second and p99. */
  ratios: Record<Exclude<Phase, 'alone'>, { requestsPerSec: number; p99: number }>;
  side: Record<Exclude<Phase, 'alone'>, SideSummary>;
  /** Each side document kind alone, as many in flight as FLAT_OUT_CONCURRENCY, no main load. */
  flatOut: Record<Exclude<Phase, 'alone'>, FlatOut>;
  /** Each shape's size, and what it was answered before the measurement (status, codes, the first message). */
  shapes: Record<string, { bytes: number; answer: string }>;
}

let nextDocument = 0;
const CLIENT_BLOCKING_OFF = { CLIENT_BLOCKING: 'off', CLIENT_BLOCKING_OFF_IN_PRODUCTION: 'true' };

export async function runAbuse(context: BenchContext, options: { bombRatePerSec: number }): Promise<AbuseSummary> {
  // What each refusal itself costs: with client blocking on (production's default), the bomb client would be blocked
  // after five bombs and every later one refused for the price of a map lookup.
  const gateway = await context.gateway({ budget: 'far', env: CLIENT_BLOCKING_OFF });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${await context.token('1')}` };
  const testQuery = await post(gateway.url, context.testQuery, headers);
  assertAnswered('the TestQuery', testQuery.status, testQuery.text);
  const body = JSON.stringify({ query: context.testQuery });
  const loadFor = (seconds: number) => load(gateway, { body, expectBody: testQuery.text, seconds, headers, connections: context.connections });

  // What each shape gets, once, anonymous as the bombs are (a shape that is not refused shows up here by name).
  const shapes: AbuseSummary['shapes'] = {};
  for (const [shape, query] of [...BOMB_SHAPES.map((name) => [name, bombDocument(name, nextDocument++)] as const), ['quadratic', quadraticDocument(nextDocument++)] as const]) {
    shapes[shape] = { bytes: Buffer.byteLength(JSON.stringify({ query })), answer: await describe(gateway, query) };
    context.log(`abuse: ${shape} (${shapes[shape]?.bytes} bytes) is answered ${shapes[shape]?.answer}`);
  }

  const side = (documents: SideDocuments, seconds: number, pacing: { mode: 'rate'; perSec: number; maxSockets: number } | { mode: 'closed'; concurrency: number }) => {
    const run = startSideLoad({ url: gateway.url, seconds, headers: {}, pacing, documents, firstIndex: nextDocument });
    // Far more than any run sends: the next run's numbers start past this one's whatever it sent.
    nextDocument += 10_000_000;
    return run;
  };
  const beside = async (documents: SideDocuments, seconds: number): Promise<[Round, SideLoadResult]> => {
    const run = side(documents, seconds, { mode: 'rate', perSec: options.bombRatePerSec, maxSockets: SIDE_SOCKETS });
    await run.ready;
    run.start();
    return Promise.all([loadFor(seconds), run.result]);
  };

  // Warm-up: the main load, then both side documents beside it, so that every code path has been compiled.
  await loadFor(context.warmupSec);
  await beside('bombs', context.warmupSec);
  await beside('quadratic', context.warmupSec);

  const normal: Record<Phase, Round[]> = { alone: [], bombs: [], quadratic: [] };
  const sides: Record<Exclude<Phase, 'alone'>, SideLoadResult[]> = { bombs: [], quadratic: [] };
  for (const [round, phases] of rotations(PHASES, context.rounds).entries()) {
    for (const phase of phases) {
      await untilIdle(gateway);
      let measured: Round;
      let sideResult: SideLoadResult | undefined;
      if (phase === 'alone') measured = await loadFor(context.durationSec);
      else {
        [measured, sideResult] = await beside(phase, context.durationSec);
        sides[phase].push(sideResult);
      }
      normal[phase].push(measured);
      if (sideResult?.firstFailure !== undefined) context.log(`abuse ${phase}: first failure ${sideResult.firstFailure}`);
      const sideNote = sideResult === undefined ? '' : `; ${phase} ${sideResult.answered}/${sideResult.sent} answered, p99 ${sideResult.latencyMs.p99} ms, ${sideResult.failures} failures`;
      context.log(`abuse ${phase} round ${round + 1}: ${measured.requestsPerSec.toFixed(0)} req/s, p99 ${measured.p99} ms, ${measured.failures} failures${sideNote}`);
    }
  }

  const flatOut = async (documents: SideDocuments): Promise<FlatOut> => {
    const seconds = Math.max(3, Math.round(context.durationSec / 2));
    await untilIdle(gateway);
    const run = side(documents, seconds, { mode: 'closed', concurrency: FLAT_OUT_CONCURRENCY });
    await run.ready;
    const pid = gateway.process.child.pid ?? 0;
    const before = cpuMs(pid);
    run.start();
    const result = await run.result;
    const spent = cpuMs(pid) - before;
    context.log(`abuse ${documents} flat out: ${result.answersPerSec} answers/s, ${(spent / Math.max(1, result.answered)).toFixed(3)} gateway CPU ms each, ${result.failures} failures`);
    return {
      concurrency: FLAT_OUT_CONCURRENCY,
      durationSec: seconds,
      answersPerSec: result.answersPerSec,
      gatewayCpuMsPerAnswer: Number((spent / Math.max(1, result.answered)).toFixed(3)),
      p50: result.latencyMs.p50,
      p99: result.latencyMs.p99,
      outcomes: result.outcomes,
      failures: result.failures,
    };
  };

  const medians = { alone: median(normal.alone), bombs: median(normal.bombs), quadratic: median(normal.quadratic) };
  const ratio = (phase: Exclude<Phase, 'alone'>) => ({
    requestsPerSec: Number((medians[phase].requestsPerSec / medians.alone.requestsPerSec).toFixed(3)),
    p99: Number((medians[phase].p99 / medians.alone.p99).toFixed(3)),
  });
  return {
    note: `TestQuery (${context.connections} connections, one token) alone, with fragment-expansion bombs and with the quadratic validation shape, each ${options.bombRatePerSec}/s from an anonymous client`,
    normal: medians,
    ratios: { bombs: ratio('bombs'), quadratic: ratio('quadratic') },
    side: { bombs: summarize(sides.bombs, options.bombRatePerSec), quadratic: summarize(sides.quadratic, options.bombRatePerSec) },
    flatOut: { bombs: await flatOut('bombs'), quadratic: await flatOut('quadratic') },
    shapes,
  };
}

async function describe(gateway: Target, query: string): Promise<string> {
  const { status, text } = await post(gateway.url, query, {});
  try {
    const errors = (JSON.parse(text) as { errors?: { message?: string; extensions?: { code?: string; validationErrorCode?: string } }[] }).errors ?? [];
    const codes = [...new Set(errors.map((error) => [error.extensions?.code, error.extensions?.validationErrorCode].filter(Boolean).join('/')))];
    return `${status}${codes.length > 0 ? ` ${codes.join(' ')} ("${errors[0]?.message ?? ''}")` : ''}`;
  } catch {
    return `${status} ${text.slice(0, 80)}`;
  }
}

function summarize(results: readonly SideLoadResult[], ratePerSec: number): SideSummary {
  const outcomes: Record<string, number> = {};
  const failuresByShape: Record<string, number> = {};
  for (const result of results) {
    for (const [outcome, count] of Object.entries(result.outcomes)) outcomes[outcome] = (outcomes[outcome] ?? 0) + count;
    for (const [shape, count] of Object.entries(result.failuresByShape)) failuresByShape[shape] = (failuresByShape[shape] ?? 0) + count;
  }
  const sum = (pick: (result: SideLoadResult) => number) => results.reduce((total, result) => total + pick(result), 0);
  return {
    ratePerSec,
    sent: sum((result) => result.sent),
    answered: sum((result) => result.answered),
    failures: sum((result) => result.failures),
    outcomes,
    failuresByShape,
    answersPerSec: medianOf(results.map((result) => result.answersPerSec)),
    p50: medianOf(results.map((result) => result.latencyMs.p50)),
    p99: medianOf(results.map((result) => result.latencyMs.p99)),
    max: Math.max(0, ...results.map((result) => result.latencyMs.max)),
  };
}

/** The abuse lines of the printed report. */
export function formatAbuse(summary: AbuseSummary): string {
  const lines = [`abuse: ${summary.note}`, 'phase       req/s   p50 ms  p99 ms  failures  cpu ms/req | beside: sent  answered  failures  p50 ms  p99 ms  answered as'];
  for (const phase of PHASES) {
    const round = summary.normal[phase];
    const main = `${phase.padEnd(10)} ${String(round.requestsPerSec).padStart(6)} ${String(round.p50).padStart(8)} ${String(round.p99).padStart(7)} ${String(round.failures).padStart(9)} ${String(round.cpuMsPerRequest).padStart(11)}`;
    if (phase === 'alone') {
      lines.push(main);
      continue;
    }
    const side = summary.side[phase];
    lines.push(`${main} | ${String(side.sent).padStart(12)} ${String(side.answered).padStart(9)} ${String(side.failures).padStart(9)} ${String(side.p50).padStart(7)} ${String(side.p99).padStart(7)}  ${JSON.stringify(side.outcomes)}`);
  }
  for (const phase of ['bombs', 'quadratic'] as const) {
    const ratio = summary.ratios[phase];
    const flat = summary.flatOut[phase];
    lines.push(`with ${phase}: req/s ${ratio.requestsPerSec}x, p99 ${ratio.p99}x of alone; alone flat out (${flat.concurrency} in flight): ${flat.answersPerSec} answers/s, ${flat.gatewayCpuMsPerAnswer} gateway CPU ms each, p99 ${flat.p99} ms`);
  }
  return lines.join('\n');
}
