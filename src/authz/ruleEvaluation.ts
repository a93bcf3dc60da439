import { GraphQLError, type GraphQLResolveInfo } from 'graphql';
import { allow, and, chain, deny, not, or, race, rule, type IRule } from 'graphql-shield';
import { ErrorCode, policyError } from '../errors.js';

/**
 * A graphql-shield rule (a leaf `rule()`, or `and`/`or`/`not`/`chain`/`race`/`allow`/`deny`).
 * graphql-shield exports the constructors but not the classes, so the classes are taken from instances.
 */
export type ShieldRule = Parameters<typeof and>[0];

const LeafRule = (rule()(() => true) as object).constructor;
const RuleAnd = (and() as object).constructor;
const RuleOr = (or() as object).constructor;
const RuleChain = (chain() as object).constructor;
const RuleRace = (race() as object).constructor;
const RuleNot = (not(allow) as object).constructor;
const RuleTrue = (allow as object).constructor;
const RuleFalse = (deny as object).constructor;

/** The outcome of a rule: allowed, denied (with the error to report), or, before execution, not decidable yet. */
export type Decision = { kind: 'allow' } | { kind: 'deny'; error: GraphQLError } | { kind: 'undecided' };

const ALLOW: Decision = Object.freeze({ kind: 'allow' });
const UNDECIDED: Decision = Object.freeze({ kind: 'undecided' });

/** Passed as the parent before execution: rules that read the parent (they declare a `fragment`) are undecided then. */
export const NO_PARENT = Symbol('no parent yet');

/** The shield options the evaluator honours, normalised as `shield()` does. */
export interface ShieldOptions {
  fallbackRule: ShieldRule;
  fallbackError: GraphQLError;
  allowExternalErrors: boolean;
}

export interface RuleContext {
  _shield: { cache: Record<string, unknown> };
  /** Told when a rule throws: the request is denied, and the error is logged, never sent. */
  onRuleError: (error: unknown, ruleName: string) => void;
}

/** A denial: a FORBIDDEN GraphQLError, never a raw error from rule code. */
export function forbidden(message = 'Not authorised'): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.Forbidden } });
}

/**
 * Evaluates a graphql-shield rule tree with graphql-shield's own semantics (`rule.resolve` for leaves; and/or/not/
 * chain/race as shield combines them), extended with a third value for the gateway's check before execution, when
 * no parent object exists yet: a leaf rule that declares a `fragment` reads the parent, so it is `undecided` then,
 * and logic rules combine it as three-valued logic (`or(isAdmin, isOwner)` is allowed for an admin, undecided for
 * anyone else; `not(undecided)` stays undecided). After execution the same rules run again with the real parent.
 *
 * graphql-shield would turn a rule that throws into a plain denial silently; here it is a denial that is logged.
 */
export async function evaluateRule(
  shieldRule: ShieldRule,
  parent: unknown,
  args: Record<string, unknown>,
  context: RuleContext,
  info: GraphQLResolveInfo,
  options: ShieldOptions,
): Promise<Decision> {
  const result = await evaluate(shieldRule, parent, args, context, info);
  if (result === 'undecided') return UNDECIDED;
  if (result === true) return ALLOW;
  // The policy's own words to the caller (a NOT_FOUND, say): they reach the client with their code.
  if (result instanceof GraphQLError) return { kind: 'deny', error: policyError(result) };
  if (result instanceof RuleThrew) return { kind: 'deny', error: options.fallbackError };
  // A rule's own Error passes through only where the policy allows external errors, and never a non-GraphQL one:
  // its message was written for logs, not for clients.
  if (result instanceof Error && options.allowExternalErrors) return { kind: 'deny', error: forbidden(result.message) };
  return { kind: 'deny', error: options.fallbackError };
}

type Result = true | false | Error | 'undecided';

/** A rule that threw: a denial that `not()` must not turn into an allow. */
class RuleThrew extends Error {}

async function evaluate(shieldRule: ShieldRule, parent: unknown, args: Record<string, unknown>, context: RuleContext, info: GraphQLResolveInfo): Promise<Result> {
  const children = () => (shieldRule as unknown as { getRules(): ShieldRule[] }).getRules();
  const each = (rules: ShieldRule[]) => Promise.all(rules.map((child) => evaluate(child, parent, args, context, info)));

  if (shieldRule instanceof RuleTrue) return true;
  if (shieldRule instanceof RuleFalse) return false;
  if (shieldRule instanceof RuleAnd) return combineAnd(await each(children()));
  if (shieldRule instanceof RuleOr) return combineOr(await each(children()));
  if (shieldRule instanceof RuleChain) {
    const results: Result[] = [];
    for (const child of children()) {
      const result = await evaluate(child, parent, args, context, info);
      results.push(result);
      if (result !== true && result !== 'undecided') break;
    }
    return combineAnd(results);
  }
  if (shieldRule instanceof RuleRace) {
    const results: Result[] = [];
    for (const child of children()) {
      const result = await evaluate(child, parent, args, context, info);
      results.push(result);
      if (result === true) break;
    }
    return combineOr(results);
  }
  if (shieldRule instanceof RuleNot) {
    const [child] = children();
    if (child === undefined) return false;
    const result = await evaluate(child, parent, args, context, info);
    if (result === 'undecided' || result instanceof RuleThrew) return result;
    if (result === true) return (shieldRule as unknown as { error?: Error }).error ?? false;
    return true;
  }
  if (shieldRule instanceof LeafRule) {
    const leaf = shieldRule as IRule;
    if (parent === NO_PARENT && leaf.extractFragment() !== undefined) return 'undecided';
    try {
      // debug: true makes shield rethrow what the rule threw, so that it can be logged here.
      const result = await leaf.resolve(parent === NO_PARENT ? {} : (parent as object), args, context as unknown as Parameters<IRule['resolve']>[2], info, {
        debug: true,
        allowExternalErrors: false,
        fallbackRule: deny,
        hashFunction: stableHash,
      });
      return typeof result === 'string' ? new Error(result) : result;
    } catch (error) {
      context.onRuleError(error, leaf.name);
      return new RuleThrew();
    }
  }
  throw new Error(`Not a graphql-shield rule: ${String(shieldRule)}`);
}

function combineAnd(results: Result[]): Result {
  const refusal = results.find((result) => result !== true && result !== 'undecided');
  if (refusal !== undefined) return firstError(results) ?? refusal;
  return results.includes('undecided') ? 'undecided' : true;
}

function combineOr(results: Result[]): Result {
  if (results.includes(true)) return true;
  if (results.includes('undecided')) return 'undecided';
  return firstError(results) ?? false;
}

function firstError(results: Result[]): Error | undefined {
  return results.find((result): result is Error => result instanceof Error);
}

/** shield's `strict` cache key for {parent, args}; JSON is enough: equal inputs give equal keys. */
function stableHash(input: { parent: unknown; args: unknown }): string {
  return JSON.stringify(input);
}

/** Whether a rule tree reads the parent object anywhere (a leaf with a `fragment`), and the fragments it declares. */
export function parentFragments(shieldRule: ShieldRule): string[] {
  if (shieldRule instanceof LeafRule) {
    const fragment = (shieldRule as IRule).extractFragment();
    return fragment === undefined ? [] : [fragment];
  }
  const rules = (shieldRule as unknown as { getRules?: () => ShieldRule[] }).getRules?.() ?? [];
  return rules.flatMap(parentFragments);
}

export function isShieldRule(value: unknown): value is ShieldRule {
  return [LeafRule, RuleAnd, RuleOr, RuleChain, RuleRace, RuleNot, RuleTrue, RuleFalse].some((kind) => value instanceof kind);
}
