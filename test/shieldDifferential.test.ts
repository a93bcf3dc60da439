import { readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { Supergraph } from '@apollo/federation-internals';
import { GraphQLError, parse, type GraphQLSchema } from 'graphql';
import { allow, not } from 'graphql-shield';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import demoConfig, { policies as demoPolicies, ruleTree as demoRuleTree } from '../gateway.config.js';
import type { Principal } from '../src/auth/principal.js';
import { loadConfig, type PolicyInput } from '../src/config/index.js';
import { acknowledgeEnforcedSecurityFeatures } from '../src/supergraph/securityFeatures.js';
import { denialsBeforeExecution } from './differential/beforeExecution.js';
import { generateCorpus, type Operation } from './differential/corpus.js';
import { copyState, createMonolith, pathKey, type Monolith, type Trace } from './differential/monolith.js';
import { formatOutcome, gatewayOutcome, monolithOutcome, sameOutcome, withErrors, withFieldDenied, type Outcome, type OutcomeError } from './differential/outcome.js';
import { HAND_WRITTEN_ALLOW, HAND_WRITTEN_DENY, PLAIN_ERROR_MESSAGES, READS_PARENT_WITHOUT_FRAGMENT, SCOPES, THROWS_ALWAYS } from './differential/policies.js';
import { fragmentFields, leavesOf, shieldLayers, type ShieldLayers, type ShieldRule } from './differential/shieldLayers.js';
import { adoptView, createStateProbe, viewOf, type StateProbe } from './differential/stateProbe.js';
import { COMMITTED_SUPERGRAPH, startStack, type Stack } from './harness.js';

// The gateway's authorization must equal real graphql-shield's. Each operation of a generated corpus runs, for each
// caller, through the real stack (HTTP, JWTs, subgraphs, the gateway's own enforcement) and against a monolith (the
// demo's subgraphs in one graphql-js schema) under graphql-shield with the same rule tree and options. The answers
// must agree: the same `data`, and the same errors by path and code; where the gateway differs by design, the
// DEVIATIONS table below says how, case by case, and anything else fails the test.

const SUPERGRAPH_SDL = readFileSync(COMMITTED_SUPERGRAPH, 'utf8');
const SUPERGRAPH_DOCUMENT = parse(SUPERGRAPH_SDL);
/** The gateway's API schema, built as the gateway builds it; a new copy for each monolith, which sets resolvers on it. */
const apiSchema = (): GraphQLSchema => Supergraph.build(acknowledgeEnforcedSecurityFeatures(SUPERGRAPH_SDL)).apiSchema().toGraphQLJSSchema();

type CallerName = 'anonymous' | 'user' | 'owner' | 'admin' | 'scoped';
const CALLERS: Readonly<Record<CallerName, Principal>> = {
  anonymous: { kind: 'anonymous' },
  // Alan: signed in, no roles, no scopes; the author of reviews 2 and 8.
  user: { kind: 'user', subject: '2', roles: [], scopes: [] },
  // Ada: user 1, whom most operations read, and the author of reviews 1 and 4.
  owner: { kind: 'user', subject: '1', roles: [], scopes: [] },
  admin: { kind: 'user', subject: '6', roles: ['admin'], scopes: [] },
  // The demo SDL has no @requiresScopes: these are the scopes the hand-written policy names.
  scoped: { kind: 'user', subject: '5', roles: [], scopes: [SCOPES.readUsers, SCOPES.writeReviews] },
};
const CALLER_NAMES = Object.keys(CALLERS) as CallerName[];

/**
 * Each policy, given to the gateway, and with the options the gateway resolves for it to graphql-shield, with
 * `allowExternalErrors` as given here: the gateway refuses `true` (a subgraph's errors follow its own masking, see
 * DEVIATIONS), so shield runs with both values, to show that the option changes nothing else.
 */
const SETUPS: readonly { name: string; policy: PolicyInput; allowExternalErrors: boolean }[] = [
  // As the demo ships it: no options, so the gateway's defaults (deny, FORBIDDEN) apply.
  { name: "the demo's policy", policy: { ruleTree: demoRuleTree, policies: demoPolicies }, allowExternalErrors: false },
  { name: 'the hand-written policy, fallbackRule deny', policy: HAND_WRITTEN_DENY, allowExternalErrors: false },
  { name: 'the hand-written policy, fallbackRule allow, a fallbackError of its own, shield allowing external errors', policy: HAND_WRITTEN_ALLOW, allowExternalErrors: true },
];

const CORPUS = generateCorpus(apiSchema(), { seed: 20_250_101, randomQueries: 60, mutations: 20 });

/**
 * Limits that are not authorization, turned off or raised (only the test harness may): hundreds of new documents
 * per caller would spend the rate budget on plan misses, a join over lists of 100 costs more than MAX_COST, and a
 * list of denied fields has more errors than MAX_ERRORS keeps. The document limits stay: the corpus keeps within them.
 */
const GATEWAY_ENV = { RATE_LIMIT_POINTS: '0', MAX_COST: '0', MAX_ERRORS: '1000', LOG_LEVEL: 'warn' };
/** pino's level of `warn`. */
const WARN = 40;

interface World {
  stack: Stack;
  probe: StateProbe;
  monolith: Monolith;
  schema: GraphQLSchema;
  layers: ShieldLayers;
  headers: Record<CallerName, Record<string, string>>;
  /** Codes of subgraph errors the gateway passes to clients (PUBLIC_ERROR_CODES). */
  publicErrorCodes: ReadonlySet<string>;
}

/** What the deviation table may read about one operation run by one caller. */
interface CaseFacts {
  world: World;
  operation: Operation;
  caller: CallerName;
  /** The monolith's execution: which fields ran, what shield let through, what resolvers threw. */
  trace: Trace;
  /** Denials of fields whose rules the gateway's design decides before execution (for mutations only). */
  deniedBefore: Error[][];
  gateway: Outcome;
}

interface Deviation {
  id: string;
  /** The gateway's answer by design, from shield's (as changed by the deviations before this one); unchanged where it does not apply. */
  expected(facts: CaseFacts, answer: Outcome): Outcome | Promise<Outcome>;
}

const RULE_NOT = (not(allow) as object).constructor;
const REFUSED_WHOLE = 'a mutation with a field denied before execution is refused whole';

/** How an error a rule decided appears in shield's answer. */
const reported = (error: Error): Omit<OutcomeError, 'path'> => ({
  code: error instanceof GraphQLError && typeof error.extensions['code'] === 'string' ? error.extensions['code'] : null,
  message: error.message,
});

/**
 * Where the gateway answers otherwise than graphql-shield on purpose. Each entry names exactly the cases it covers
 * and what the gateway answers in them instead; they apply in this order, each to the answer the previous left.
 */
const DEVIATIONS: readonly Deviation[] = [
  {
    // (v) A subgraph's own error (bad input) is the gateway's to mask, by its error policy: codes on
    // PUBLIC_ERROR_CODES reach the client, anything else is INTERNAL_SERVER_ERROR. Shield masks a resolver's error
    // with its fallbackError unless allowExternalErrors, but at the gateway no resolver runs inside shield's reach.
    // Cases: every field whose resolver threw on the monolith.
    id: 'subgraph errors follow the gateway error policy',
    expected: ({ trace, world }, answer) => {
      let errors = answer.errors;
      for (const [key, error] of trace.threw) {
        const code = error.extensions['code'];
        const passed = typeof code === 'string' && world.publicErrorCodes.has(code) ? code : 'INTERNAL_SERVER_ERROR';
        errors = [...errors.filter((existing) => existing.path !== key), { path: key, code: passed, message: error.message }];
      }
      return withErrors(answer, errors);
    },
  },
  {
    // (ii) A rule that throws is a denial at the gateway, also under not(): a bug in a rule must never grant access.
    // Shield turns a throw into `false`, which not() turns into an allow. Cases: every field shield let through whose
    // tree rule is not() of a rule that always throws; the gateway denies it with the fallback error.
    id: 'a rule that throws denies, even under not()',
    expected: ({ trace, world }, answer) => {
      let outcome = answer;
      for (const field of trace.executed.values()) {
        const { tree } = world.layers.rulesOf(field.typeName, field.fieldName);
        if (!negatesARuleThatThrows(tree) || !trace.resolved.has(pathKey(field.path))) continue;
        outcome = withFieldDenied(outcome, field.path, reported(world.layers.options.fallbackError));
      }
      return outcome;
    },
  },
  {
    // (iv) No resolver runs at the gateway, so a rule decided on the result sees a parent made of the fields its
    // `fragment` declares plus those the client selected on that object unaliased and without arguments; shield
    // sees the whole record. A rule that reads its parent without declaring it may decide otherwise. Cases: every
    // field shield let through whose rules include such a rule; its decision is taken again, by shield's own rule,
    // on the parent the gateway has. (The field such a rule reads, Review.rating, is never denied: a denied sibling
    // would be missing from the gateway's parent too, which this does not model.)
    id: 'a rule reading its parent without a fragment sees only what was fetched',
    expected: async ({ trace, world, caller }, answer) => {
      let outcome = answer;
      for (const field of trace.executed.values()) {
        const rules = Object.values(world.layers.rulesOf(field.typeName, field.fieldName));
        if (!rules.flatMap(leavesOf).some((leaf) => READS_PARENT_WITHOUT_FRAGMENT.has(leaf)) || !trace.resolved.has(pathKey(field.path))) continue;
        const selected = [...trace.executed.values()].filter((other) => other.parentKey === field.parentKey && other.responseKey === other.fieldName && other.withoutArguments);
        const visible = new Set([...rules.flatMap(fragmentFields), ...selected.map((other) => other.fieldName)]);
        const parent = Object.fromEntries(Object.entries(field.parent ?? {}).filter(([name]) => visible.has(name)));
        const decision = await world.layers.decide(field.typeName, field.fieldName, parent, field.args, world.monolith.context(CALLERS[caller]));
        if (decision !== true) outcome = withFieldDenied(outcome, field.path, reported(decision));
      }
      return outcome;
    },
  },
  {
    // (i) A mutation is all or nothing at the gateway: if any field it selects is denied before execution, it is
    // refused with 403 and no subgraph sees it; shield runs it and nulls the denied fields. Denied before execution:
    // a root field by its rules, any other field when its rules deny whatever those of them that may read the parent
    // (all but `cache: 'contextual'` ones) answer. The 403 reports one of those denials: the first in the gateway's
    // walk. Cases: every mutation with such a denial (the monolith's state is then put back: nothing ran).
    id: REFUSED_WHOLE,
    expected: ({ operation, deniedBefore, gateway }, answer) => {
      if (operation.kind !== 'mutation' || deniedBefore.length === 0) return answer;
      const candidates = deniedBefore.flat().map(reported);
      const first = candidates.find((candidate) => candidate.message === gateway.errors[0]?.message) ?? candidates[0];
      return first === undefined ? answer : { status: 403, data: undefined, errors: [{ path: '', ...first }] };
    },
  },
  {
    // (iii) A rule's plain Error (or string) reaches the client with its message, as shield returns it, but with
    // code FORBIDDEN: every error the gateway sends has a code (shield's has none). Cases: every error without a code
    // whose message is one a rule of the policy returns as a plain Error.
    id: "a rule's plain Error gets code FORBIDDEN",
    expected: (_facts, answer) => withErrors(answer, answer.errors.map((error) => (error.code === null && PLAIN_ERROR_MESSAGES.has(error.message) ? { ...error, code: 'FORBIDDEN' } : error))),
  },
];

function negatesARuleThatThrows(shieldRule: ShieldRule): boolean {
  if (!(shieldRule instanceof RULE_NOT) || !('getRules' in shieldRule)) return false;
  const [negated] = shieldRule.getRules();
  return negated !== undefined && THROWS_ALWAYS.has(negated);
}

/** One disagreement the table does not explain: the lead's to fix (or the table's, with a reason). */
interface Difference {
  setup: string;
  operation: Operation;
  caller: CallerName;
  gateway: Outcome;
  shield: Outcome;
  expected: Outcome;
  deviations: string[];
  /** For a mutation: how the subgraphs' state differs from the monolith's after it. */
  state?: string;
  /** What the gateway logged at warn and above for this request (why it refused, what threw). */
  logs: string[];
}

const differences: Difference[] = [];
/** How many cases confirmed each deviation: it changed the expected answer, and the gateway answered that. */
const confirmations = new Map<string, number>(DEVIATIONS.map((deviation) => [deviation.id, 0]));

function describeDifference(difference: Difference): string {
  return [
    `${difference.operation.name} as ${difference.caller}${difference.deviations.length > 0 ? ` (deviations applied: ${difference.deviations.join(', ')})` : ''}`,
    `  operation: ${difference.operation.text.replace(/\n/g, ' ')}${Object.keys(difference.operation.variables).length > 0 ? ` variables ${JSON.stringify(difference.operation.variables)}` : ''}`,
    `  gateway:  ${formatOutcome(difference.gateway)}`,
    `  expected: ${formatOutcome(difference.expected)}`,
    `  shield:   ${formatOutcome(difference.shield)}`,
    ...(difference.state === undefined ? [] : [`  state:    ${difference.state}`]),
    ...difference.logs.map((line) => `  log:      ${line}`),
  ].join('\n');
}

async function startWorld(policy: PolicyInput, allowExternalErrors: boolean): Promise<World> {
  // The policy and error settings as the gateway resolves them from this config module.
  const config = loadConfig({}, { module: { ...demoConfig, policy } });
  const schema = apiSchema();
  const layers = shieldLayers(schema, SUPERGRAPH_DOCUMENT, { ...config.policy, options: { ...config.policy.options, allowExternalErrors } });
  const monolith = createMonolith(schema, layers.middlewares);
  const probe = await createStateProbe();
  const stack = await startStack({ policy, env: GATEWAY_ENV, trust: probe.trust });
  probe.attach(stack);
  const headers = {} as World['headers'];
  for (const name of CALLER_NAMES) {
    const principal = CALLERS[name];
    headers[name] = principal.kind === 'anonymous' ? {} : await stack.as({ subject: principal.subject, roles: [...principal.roles], scopes: [...principal.scopes] });
  }
  return { stack, probe, monolith, schema, layers, headers, publicErrorCodes: new Set(config.publicErrorCodes) };
}

/** Runs one operation for one caller on both sides and compares; a mutation also compares the state it leaves. */
async function runCase(world: World, setup: string, operation: Operation, caller: CallerName): Promise<Difference | undefined> {
  const principal = CALLERS[caller];
  const document = parse(operation.text);
  const { variables } = operation;
  const before = operation.kind === 'mutation' ? copyState(world.monolith.state) : undefined;
  const deniedBefore =
    operation.kind === 'mutation' ? await denialsBeforeExecution({ schema: world.schema, document, variables, layers: world.layers, context: world.monolith.context(principal) }) : [];

  const response = await world.stack.query(operation.text, { variables, headers: world.headers[caller] });
  const { result, trace } = await world.monolith.run({ document, variables }, principal);
  const gateway = gatewayOutcome(response);
  const shield = monolithOutcome(result);

  const facts: CaseFacts = { world, operation, caller, trace, deniedBefore, gateway };
  let expected = shield;
  const applied: string[] = [];
  for (const deviation of DEVIATIONS) {
    const next = await deviation.expected(facts, expected);
    if (sameOutcome(next, expected)) continue;
    applied.push(deviation.id);
    expected = next;
  }
  const agreed = sameOutcome(gateway, expected);
  if (agreed) for (const id of applied) confirmations.set(id, (confirmations.get(id) ?? 0) + 1);

  let state: string | undefined;
  if (before !== undefined) {
    // Refused whole, by design: nothing ran at the gateway, so nothing may have changed on the monolith either.
    if (applied.includes(REFUSED_WHOLE)) world.monolith.state = before;
    const held = await world.probe.read(world.monolith.state.lastReviewId);
    const mirrored = viewOf(world.monolith.state);
    if (!isDeepStrictEqual(held, mirrored)) {
      state = `subgraphs ${JSON.stringify(held)} but monolith ${JSON.stringify(mirrored)}`;
      // Carry on from what the subgraphs hold, so that one difference does not make every later case differ.
      adoptView(world.monolith.state, held);
    }
  }
  if (agreed && state === undefined) return undefined;
  const requestId = response.headers.get('x-request-id');
  const logs = world.stack.logs
    .filter((line) => line['requestId'] === requestId && Number(line['level']) >= WARN)
    .map(({ msg, reason, err, errors }) => JSON.stringify({ msg, reason, err: (err as { message?: unknown } | undefined)?.message, errors }));
  return { setup, operation, caller, gateway, shield, expected, deviations: applied, logs, ...(state === undefined ? {} : { state }) };
}

describe.each(SETUPS)('the gateway decides as graphql-shield does, under $name', ({ name, policy, allowExternalErrors }) => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld(policy, allowExternalErrors);
  });
  afterAll(() => world?.stack.stop());

  // Queries change nothing: every caller at once, once a first one has had the gateway plan the document (several
  // requests for a document not planned yet would each plan it).
  it.each(CORPUS.queries)('query $name', async (operation) => {
    const [first, ...others] = CALLER_NAMES.map((caller) => () => runCase(world, name, operation, caller));
    const found = [await first?.(), ...(await Promise.all(others.map((run) => run())))];
    const unexplained = found.filter((difference): difference is Difference => difference !== undefined);
    differences.push(...unexplained);
    expect(unexplained.map(describeDifference)).toEqual([]);
  });

  // Mutations change state: one caller after the other, in the same order on both sides, after every query.
  it.each(CORPUS.mutations)('mutation $name', async (operation) => {
    const unexplained: Difference[] = [];
    for (const caller of CALLER_NAMES) {
      const difference = await runCase(world, name, operation, caller);
      if (difference !== undefined) unexplained.push(difference);
    }
    differences.push(...unexplained);
    expect(unexplained.map(describeDifference)).toEqual([]);
  });
});

describe('the deviation table', () => {
  it('has every deviation confirmed by at least one case of the corpus', () => {
    expect([...confirmations].filter(([, count]) => count === 0).map(([id]) => id)).toEqual([]);
  });
});

afterAll(() => {
  // DIFFERENTIAL_REPORT=<file> keeps every unexplained difference as JSON, for whoever fixes them.
  const file = process.env['DIFFERENTIAL_REPORT'];
  if (file !== undefined) writeFileSync(file, JSON.stringify({ differences, confirmations: Object.fromEntries(confirmations) }, null, 2));
});
