// The planMiss workload: one subject sends documents the gateway has never planned (ten root fields over four
// subgraphs, cost 0 each) under the gateway's default rate budget, once with the default PLAN_MISS_POINTS and once
// with PLAN_MISS_POINTS=0. Meanwhile other, well-behaved callers send the TestQuery at a steady rate; their latency is
// measured without the flood, beside a flood that keeps sending whatever the answers, and beside one that stops at
// its first 429 (as a client honouring Retry-After would). The question: what can one subject make the gateway spend
// per window, and what does that do to everyone else?
import { assertAnswered, type BenchContext } from './context.js';
import { planMissAnswer, planMissDocument } from './documents.js';
import { cpuMs, load, median, rssMb, untilIdle, type Round, type Target } from './measure.js';
import { startSideLoad, type SideLoadResult } from './sideLoad.js';
import { medianOf, rotations } from './stats.js';

/** `flood`: beside the well-behaved load, never stopping. `politeFlood`: beside it, stopping at the first 429. */
type Phase = 'quiet' | 'flood' | 'politeFlood' | 'floodAlone';
const PHASES: readonly Phase[] = ['quiet', 'flood', 'politeFlood', 'floodAlone'];
/** The well-behaved callers' TestQuery rate and connections: well below what the gateway serves (~150/s). */
const WELL_BEHAVED_RATE = 10;
const WELL_BEHAVED_CONNECTIONS = 10;
/** The flood's requests in flight. With the well-behaved connections, far under MAX_CONNECTIONS_PER_CLIENT (64). */
const FLOOD_CONCURRENCY = 8;
/** Where the planMiss gateway serves metrics, for its plan cache counters: beside the benchmark's ports 4201-4206. */
const METRICS_PORT = 4207;

export interface FloodSummary {
  /** Sums over the rounds; the rest are medians over the rounds (each round a new subject with a full budget). */
  sent: number;
  failures: number;
  admittedPerRound: number;
  refusedPerRound: number;
  /** Documents the gateway planned in a round (gateway_query_plans_total{cache="miss"}). */
  plannedPerRound: number;
  /** Seconds from the flood's first request to its last admitted answer. */
  lastAdmittedAtSec: number;
  refusedPerSec: number;
  /** The gateway's CPU per second after the last admitted answer: what refusing this one subject costs it. */
  refusingCpuMsPerSec: number;
  /** The gateway's CPU over the whole run, and until the last admitted answer (to within a 100 ms sample). */
  gatewayCpuMs: number;
  gatewayCpuMsUntilLastAdmitted: number;
  /** CPU until the last admitted answer over the admitted documents; CPU after it over the refusals. */
  cpuMsPerAdmitted: number;
  cpuMsPerRefused: number;
  p50: number;
  p99: number;
  /** The gateway's RSS at the end of the last round: the plans and documents it keeps. */
  gatewayRssMbAfter: number;
}

export interface PlanMissVariant {
  planMissPoints: string;
  /**
   * The well-behaved callers (medians of the rounds): alone, beside the flood, beside the polite flood. Their
   * `cpuMsPerRequest` is the gateway's CPU over their requests, the flood's included when there is one.
   */
  quiet: Round;
  withFlood: Round;
  withPoliteFlood: Round;
  /** Plan misses of the well-behaved callers' TestQuery (its plan evicted by the flood's), over all rounds. */
  wellBehavedPlanMisses: number;
  /** The flood alone (no other load): its CPU figures are the flood's own. */
  flood: FloodSummary;
  /** The floods beside the well-behaved callers (their CPU figures include the well-behaved load's). */
  floodBeside: FloodSummary;
  politeFloodBeside: FloodSummary;
  /**
   * One subject for one whole window, extrapolated from `flood`: the documents its budget gets planned and the CPU
   * they cost, and the CPU of refusing it, at the measured rate, for the rest of the window.
   */
  perWindow: { windowSec: number; plannedDocuments: number; planningCpuMs: number; refusingCpuMs: number; shareOfOneCore: number };
}

export interface PlanMissSummary {
  note: string;
  budget: { points: number; windowSec: number };
  wellBehaved: { ratePerSec: number; connections: number; subjects: number; testQueryCost: number };
  floodConcurrency: number;
  variants: PlanMissVariant[];
}

interface FloodRun {
  result: SideLoadResult;
  /** The gateway's CPU (ms), sampled every 100 ms through the run. */
  cpu: { at: number; ms: number }[];
  planMisses: number;
  rssMbAfter: number;
}

let nextDocument = 1_000_000_000;
let nextSubject = 0;

export async function runPlanMiss(context: BenchContext): Promise<PlanMissSummary> {
  const variants: PlanMissVariant[] = [];
  let budget = { points: 0, windowSec: 0 };
  let wellBehaved = { ratePerSec: WELL_BEHAVED_RATE, connections: WELL_BEHAVED_CONNECTIONS, subjects: 0, testQueryCost: 0 };
  // The gateway's own budget, not the benchmark's far larger one: what one subject may spend is the question.
  // Client blocking off: the question is what the budget lets one subject spend; blocking (production's default)
  // would shut the flooder out after twenty refusals over its budget.
  const base = { METRICS_PORT: String(METRICS_PORT), CLIENT_BLOCKING: 'off', CLIENT_BLOCKING_OFF_IN_PRODUCTION: 'true' };
  const settings: Record<string, string>[] = [base, { ...base, PLAN_MISS_POINTS: '0' }];
  for (const env of settings) {
    const gateway = await context.gateway({ budget: 'default', env });
    const planMissPoints = gateway.env?.['PLAN_MISS_POINTS'] ?? '1000 (default)';

    // The budget, and what one TestQuery costs of it, from a fresh subject's first answer (its admission point and
    // estimate: the plan-miss charge of this first TestQuery is added after the answer).
    const probe = await postWithToken(gateway, context.testQuery, await context.token(`probe-${nextSubject++}`));
    const points = Number(probe.headers.get('ratelimit-limit'));
    const windowSec = Number(/w=(\d+)/.exec(probe.headers.get('ratelimit-policy') ?? '')?.[1]);
    const testQueryCost = points - Number(probe.headers.get('ratelimit-remaining'));
    assertAnswered('planMiss: the TestQuery', probe.status, probe.text);
    if (!(points > 0) || !(testQueryCost > 0)) throw new Error(`planMiss: the TestQuery's answer names no budget (limit ${points}, cost ${testQueryCost})`);
    // A flood document must be answered, not denied, or the flood measures the policy rather than the planner.
    const sample = await postWithToken(gateway, planMissDocument(0), await context.token(`probe-${nextSubject++}`));
    assertAnswered('planMiss: a flood document', sample.status, sample.text);
    if (sample.text.trimEnd() !== planMissAnswer(0)) throw new Error(`planMiss: a flood document is answered ${sample.text.slice(0, 300)}`);
    budget = { points, windowSec };
    // One subject gets points / cost TestQueries per window (29 at the default budget): enough subjects that none
    // runs out at the steady rate, twice over.
    const perSubject = Math.max(1, Math.floor(points / testQueryCost));
    const subjects = Math.ceil((2 * WELL_BEHAVED_RATE * windowSec) / perSubject);
    wellBehaved = { ratePerSec: WELL_BEHAVED_RATE, connections: WELL_BEHAVED_CONNECTIONS, subjects, testQueryCost };
    const tokens = await Promise.all(Array.from({ length: subjects }, () => context.token(`calm-${nextSubject++}`)));
    context.log(`planMiss PLAN_MISS_POINTS=${planMissPoints}: budget ${points}/${windowSec}s, TestQuery costs ${testQueryCost}, ${subjects} well-behaved subjects at ${WELL_BEHAVED_RATE}/s`);

    const calm = (seconds: number) =>
      load(gateway, {
        body: JSON.stringify({ query: context.testQuery }),
        expectBody: probe.text,
        seconds,
        headers: { 'content-type': 'application/json' },
        connections: WELL_BEHAVED_CONNECTIONS,
        overallRate: WELL_BEHAVED_RATE,
        headersFor: (index) => ({ authorization: `Bearer ${tokens[index % tokens.length] ?? ''}` }),
      });
    /** A flood from a new subject (a full budget), beside the well-behaved load or alone. */
    const flood = async (seconds: number, options: { beside: boolean; polite: boolean }): Promise<{ calm: Round | undefined; run: FloodRun }> => {
      const side = startSideLoad({
        url: gateway.url,
        seconds,
        headers: { authorization: `Bearer ${await context.token(`flood-${nextSubject++}`)}` },
        pacing: { mode: 'closed', concurrency: FLOOD_CONCURRENCY },
        documents: 'planMiss',
        firstIndex: nextDocument,
        stopWhenRefused: options.polite,
      });
      nextDocument += 10_000_000;
      await side.ready;
      const plansBefore = await planCounts();
      const pid = gateway.process.child.pid ?? 0;
      const cpu: FloodRun['cpu'] = [{ at: Date.now(), ms: cpuMs(pid) }];
      const sampler = setInterval(() => cpu.push({ at: Date.now(), ms: cpuMs(pid) }), 100);
      side.start();
      const [calmRound, result] = await Promise.all([options.beside ? calm(seconds) : Promise.resolve(undefined), side.result]);
      clearInterval(sampler);
      cpu.push({ at: Date.now(), ms: cpuMs(pid) });
      return { calm: calmRound, run: { result, cpu, planMisses: (await planCounts()).miss - plansBefore.miss, rssMbAfter: rssMb(pid) } };
    };

    await calm(context.warmupSec);
    await flood(context.warmupSec, { beside: true, polite: false });

    const calmRounds: Record<Exclude<Phase, 'floodAlone'>, Round[]> = { quiet: [], flood: [], politeFlood: [] };
    const floods: Record<Exclude<Phase, 'quiet'>, FloodRun[]> = { flood: [], politeFlood: [], floodAlone: [] };
    let wellBehavedPlanMisses = 0;
    for (const [round, phases] of rotations(PHASES, context.rounds).entries()) {
      for (const phase of phases) {
        await untilIdle(gateway);
        const label = `planMiss ${planMissPoints} ${phase} round ${round + 1}`;
        if (phase === 'quiet') {
          const before = await planCounts();
          const measured = await calm(context.durationSec);
          wellBehavedPlanMisses += (await planCounts()).miss - before.miss;
          calmRounds.quiet.push(measured);
          context.log(`${label}: well-behaved ${measured.requestsPerSec.toFixed(1)} req/s, p50 ${measured.p50} ms, p99 ${measured.p99} ms, ${measured.failures} failures`);
          continue;
        }
        const { calm: measured, run } = await flood(context.durationSec, { beside: phase !== 'floodAlone', polite: phase === 'politeFlood' });
        const admitted = run.result.outcomes['200'] ?? 0;
        floods[phase].push(run);
        if (measured !== undefined && phase !== 'floodAlone') {
          calmRounds[phase].push(measured);
          // Every admitted flood document is a plan miss; any other miss was the TestQuery's, its plan evicted.
          wellBehavedPlanMisses += Math.max(0, run.planMisses - admitted);
        }
        if (run.result.firstFailure !== undefined) context.log(`${label}: first flood failure ${run.result.firstFailure}`);
        const cpu = (run.cpu.at(-1)?.ms ?? 0) - (run.cpu[0]?.ms ?? 0);
        const calmNote = measured === undefined ? '' : `; well-behaved ${measured.requestsPerSec.toFixed(1)} req/s, p50 ${measured.p50} ms, p99 ${measured.p99} ms, ${measured.failures} failures`;
        context.log(`${label}: flood ${admitted} admitted, ${run.result.outcomes['429 RATE_LIMITED'] ?? 0} refused, ${run.result.failures} failures, ${run.planMisses} planned, gateway CPU ${cpu} ms, RSS ${run.rssMbAfter} MB after${calmNote}`);
      }
    }

    const floodAlone = summarizeFloods(floods.floodAlone);
    variants.push({
      planMissPoints,
      quiet: median(calmRounds.quiet),
      withFlood: median(calmRounds.flood),
      withPoliteFlood: median(calmRounds.politeFlood),
      wellBehavedPlanMisses,
      flood: floodAlone,
      floodBeside: summarizeFloods(floods.flood),
      politeFloodBeside: summarizeFloods(floods.politeFlood),
      perWindow: perWindow(floodAlone, context.durationSec, { points, windowSec, planMissPoints: Number(gateway.env?.['PLAN_MISS_POINTS'] ?? 1000) }),
    });
  }
  return {
    note: `one subject floods never-planned documents (${FLOOD_CONCURRENCY} in flight, 10 root fields over four subgraphs, cost 0) under the default budget; well-behaved callers send the TestQuery at ${WELL_BEHAVED_RATE}/s`,
    budget,
    wellBehaved,
    floodConcurrency: FLOOD_CONCURRENCY,
    variants,
  };
}

function summarizeFloods(runs: readonly FloodRun[]): FloodSummary {
  const each = runs.map(({ result, cpu, planMisses }) => {
    const admitted = result.outcomes['200'] ?? 0;
    const refused = result.outcomes['429 RATE_LIMITED'] ?? 0;
    const first = cpu[0]?.ms ?? 0;
    const last = cpu.at(-1)?.ms ?? 0;
    // The first CPU sample after the last admitted answer ends the planning part (to within 100 ms of refusals).
    const cut = refused === 0 || result.lastAdmittedAt === undefined ? undefined : cpu.find((sample) => sample.at >= (result.lastAdmittedAt ?? 0));
    const untilLastAdmitted = (cut?.ms ?? last) - first;
    const endedAt = cpu.at(-1)?.at ?? result.startedAt;
    const refusingSec = Math.max(0.001, (endedAt - (result.firstRefusedAt ?? endedAt)) / 1000);
    const afterLastAdmittedSec = Math.max(0.001, (endedAt - (cut?.at ?? endedAt)) / 1000);
    return {
      result,
      admitted,
      refused,
      planMisses,
      cpuTotal: last - first,
      untilLastAdmitted,
      lastAdmittedAtSec: result.lastAdmittedAt === undefined ? 0 : (result.lastAdmittedAt - result.startedAt) / 1000,
      cpuPerAdmitted: admitted === 0 ? 0 : untilLastAdmitted / admitted,
      cpuPerRefused: refused === 0 ? 0 : (last - first - untilLastAdmitted) / refused,
      refusedPerSec: refused / refusingSec,
      refusingCpuMsPerSec: refused === 0 ? 0 : (last - first - untilLastAdmitted) / afterLastAdmittedSec,
    };
  });
  const sum = (pick: (run: (typeof each)[number]) => number) => each.reduce((total, run) => total + pick(run), 0);
  const mid = (pick: (run: (typeof each)[number]) => number) => medianOf(each.map(pick));
  return {
    sent: sum((run) => run.result.sent),
    failures: sum((run) => run.result.failures),
    admittedPerRound: mid((run) => run.admitted),
    refusedPerRound: mid((run) => run.refused),
    plannedPerRound: mid((run) => run.planMisses),
    lastAdmittedAtSec: Number(mid((run) => run.lastAdmittedAtSec).toFixed(2)),
    refusedPerSec: Math.round(mid((run) => run.refusedPerSec)),
    refusingCpuMsPerSec: Math.round(mid((run) => run.refusingCpuMsPerSec)),
    gatewayCpuMs: mid((run) => run.cpuTotal),
    gatewayCpuMsUntilLastAdmitted: mid((run) => run.untilLastAdmitted),
    cpuMsPerAdmitted: Number(mid((run) => run.cpuPerAdmitted).toFixed(2)),
    cpuMsPerRefused: Number(mid((run) => run.cpuPerRefused).toFixed(3)),
    p50: mid((run) => run.result.latencyMs.p50),
    p99: mid((run) => run.result.latencyMs.p99),
    gatewayRssMbAfter: runs.at(-1)?.rssMbAfter ?? 0,
  };
}

/**
 * One subject for one window. Refused during the run: it had its whole budget planned in the run, and refusing it
 * costs what it cost after that, for the rest of the window. Never refused: it plans at the measured rate until its budget (one
 * point each, plus the plan-miss charge) or the window runs out.
 */
function perWindow(flood: FloodSummary, runSec: number, budget: { points: number; windowSec: number; planMissPoints: number }): PlanMissVariant['perWindow'] {
  let planned: number;
  let refusingCpuMs = 0;
  if (flood.refusedPerRound > 0) {
    planned = flood.admittedPerRound;
    refusingCpuMs = flood.refusingCpuMsPerSec * Math.max(0, budget.windowSec - flood.lastAdmittedAtSec);
  } else {
    const affordable = Math.floor(budget.points / (1 + budget.planMissPoints));
    planned = Math.min(affordable, Math.round((flood.admittedPerRound / runSec) * budget.windowSec));
  }
  const planningCpuMs = planned * flood.cpuMsPerAdmitted;
  return {
    windowSec: budget.windowSec,
    plannedDocuments: planned,
    planningCpuMs: Math.round(planningCpuMs),
    refusingCpuMs: Math.round(refusingCpuMs),
    shareOfOneCore: Number(((planningCpuMs + refusingCpuMs) / (budget.windowSec * 1000)).toFixed(3)),
  };
}

async function postWithToken(gateway: Target, query: string, token: string) {
  const response = await fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** gateway_query_plans_total by cache outcome, from the metrics port. */
async function planCounts(): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`)).text();
  const count = (cache: string) => Number(new RegExp(`^gateway_query_plans_total\\{cache="${cache}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { hit: count('hit'), miss: count('miss') };
}

/** The planMiss lines of the printed report. */
export function formatPlanMiss(summary: PlanMissSummary): string {
  const { budget, wellBehaved } = summary;
  const lines = [
    `planMiss: ${summary.note}`,
    `budget ${budget.points} points per ${budget.windowSec} s per subject; a TestQuery costs ${wellBehaved.testQueryCost} (${Math.floor(budget.points / wellBehaved.testQueryCost)} per window for one subject), so ${wellBehaved.subjects} well-behaved subjects`,
    'PLAN_MISS_POINTS  flood alone, per round: admitted  refused  planned  last 200 s  cpu ms  ms/admitted  ms/refused | per window: planned  planning ms  refusing ms  cores',
  ];
  for (const variant of summary.variants) {
    const { flood, perWindow: window } = variant;
    lines.push(
      `${variant.planMissPoints.padEnd(17)} ${String(flood.admittedPerRound).padStart(30)} ${String(flood.refusedPerRound).padStart(8)} ${String(flood.plannedPerRound).padStart(8)} ${String(flood.lastAdmittedAtSec).padStart(11)} ${String(flood.gatewayCpuMs).padStart(7)} ${String(flood.cpuMsPerAdmitted).padStart(12)} ${String(flood.cpuMsPerRefused).padStart(11)} | ${String(window.plannedDocuments).padStart(19)} ${String(window.planningCpuMs).padStart(12)} ${String(window.refusingCpuMs).padStart(12)} ${String(window.shareOfOneCore).padStart(6)}`,
    );
  }
  lines.push('PLAN_MISS_POINTS  well-behaved TestQuery: req/s  p50 ms  p99 ms  failures (quiet / beside flood / beside polite flood)  TestQuery plan misses');
  for (const variant of summary.variants) {
    const rounds = [variant.quiet, variant.withFlood, variant.withPoliteFlood];
    const column = (pick: (round: Round) => number) => rounds.map(pick).join(' / ');
    lines.push(`${variant.planMissPoints.padEnd(17)} ${column((round) => round.requestsPerSec).padStart(29)}  ${column((round) => round.p50)}  ${column((round) => round.p99)}  ${column((round) => round.failures)}  ${variant.wellBehavedPlanMisses}`);
  }
  return lines.join('\n');
}
