import { GraphQLError, type GraphQLResolveInfo } from 'graphql';
import type { and } from 'graphql-shield';
import { ErrorCode, policyError } from '../errors.js';

/**
 * A graphql-shield rule (a leaf `rule()` or `inputRule()`, or `and`/`or`/`not`/`chain`/`race`/`allow`/`deny`).
 * graphql-shield exports the constructors but neither the classes nor a rule type.
 */
export type ShieldRule = Parameters<typeof and>[0];

/** The outcome of a rule: allowed, denied (with the error to report), or, before execution, not decidable yet. */
export type Decision = { kind: 'allow' } | { kind: 'deny'; error: GraphQLError } | { kind: 'undecided' };

const ALLOW: Decision = Object.freeze({ kind: 'allow' });
const UNDECIDED: Decision = Object.freeze({ kind: 'undecided' });

/**
 * Passed as the parent before execution, below the root: the object does not exist yet. A rule is judged then only
 * when it cannot depend on its parent (see `readsParent`); any other is undecided until the real object is there.
 */
export const NO_PARENT = Symbol('no parent yet');

/** The shield options the evaluator honours, normalised as `shield()` does. */
export interface ShieldOptions {
  fallbackRule: ShieldRule;
  fallbackError: GraphQLError;
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

// graphql-shield's classes, told apart by what they are rather than by identity: a config module may bring its own
// copy of graphql-shield (a second version in node_modules), whose classes are not this process's. These are the
// tests shield itself applies (its isRule/isLogicRule fall back to the constructor's name) plus the methods its
// public rule interface has (`resolve`, `extractFragment`, `getRules`).
const LOGIC_RULES = ['RuleAnd', 'RuleOr', 'RuleChain', 'RuleRace', 'RuleNot', 'RuleTrue', 'RuleFalse'] as const;
type LogicKind = (typeof LOGIC_RULES)[number];

interface LeafRule {
  name?: unknown;
  cache?: unknown;
  resolve(parent: unknown, args: unknown, ctx: unknown, info: unknown, options: unknown): Promise<unknown>;
  extractFragment?(): string | undefined;
}

interface LogicRule {
  getRules(): unknown[];
  error?: unknown;
}

function hasMethod(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[name] === 'function';
}

function logicKind(value: unknown): LogicKind | undefined {
  if (!hasMethod(value, 'getRules') || !hasMethod(value, 'resolve')) return undefined;
  const name = (value as object).constructor?.name;
  return (LOGIC_RULES as readonly string[]).includes(name) ? (name as LogicKind) : undefined;
}

/**
 * Whether a value is a graphql-shield rule, from any copy of graphql-shield: a logic rule, or any object with shield's
 * rule interface (`resolve`, and `extractFragment` as every `rule()` has). A class of the policy's own that implements
 * that interface is a leaf, evaluated by its `resolve`.
 */
export function isShieldRule(value: unknown): value is ShieldRule {
  return logicKind(value) !== undefined || (hasMethod(value, 'resolve') && hasMethod(value, 'extractFragment'));
}

/**
 * Whether a leaf rule's outcome may depend on the object it guards. graphql-shield's `cache: 'contextual'` is its
 * author's statement that the rule reads only the context (shield caches it per request, whatever the parent), so it
 * can be judged before the object exists; every other leaf (`strict`, `no_cache`, a cache function, a rule class of
 * the policy's own) may read the parent, declared in a `fragment` or not, and is judged on the real object.
 */
function readsParent(leaf: LeafRule): boolean {
  return leaf.cache !== 'contextual';
}

/**
 * Evaluates a graphql-shield rule tree with graphql-shield's own semantics: each leaf through its own `resolve` (with
 * shield's caching, strings and returned errors), and/or/not/chain/race combined exactly as shield combines them.
 * Before execution (`parent` is NO_PARENT) a leaf that may read its parent is `undecided`, and logic rules combine
 * that as three-valued logic: `or(isAdmin, isOwner)` is allowed for an admin and undecided for anyone else, and
 * `not(undecided)` stays undecided. Once the object exists the same rules run again on it.
 *
 * One deliberate difference: a rule that throws is a denial that `not()` cannot turn into an allow (shield's
 * `not(throwingRule)` allows), and the error is logged, never sent.
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
  if (result instanceof RuleThrew || result === false) return { kind: 'deny', error: options.fallbackError };
  // A returned error is the policy's own words to the caller (shield returns it as the field's error): a
  // GraphQLError keeps its code (a NOT_FOUND, say), any other error is a FORBIDDEN with its message.
  if (isGraphQLError(result)) return { kind: 'deny', error: policyError(result) };
  return { kind: 'deny', error: forbidden(result.message) };
}

/** A GraphQLError from any copy of graphql (a config module may bring its own). */
function isGraphQLError(error: Error): error is GraphQLError {
  return error instanceof GraphQLError || (error.name === 'GraphQLError' && typeof (error as { extensions?: unknown }).extensions === 'object');
}

type Result = true | false | Error | 'undecided';

/** A rule that threw: a denial that `not()` must not turn into an allow. */
class RuleThrew extends Error {}

async function evaluate(shieldRule: ShieldRule, parent: unknown, args: Record<string, unknown>, context: RuleContext, info: GraphQLResolveInfo): Promise<Result> {
  const kind = logicKind(shieldRule);
  if (kind === undefined) return evaluateLeaf(shieldRule as unknown as LeafRule, parent, args, context, info);
  const rules = (shieldRule as unknown as LogicRule).getRules() as ShieldRule[];
  const each = (children: ShieldRule[]) => Promise.all(children.map((child) => evaluate(child, parent, args, context, info)));
  switch (kind) {
    case 'RuleTrue':
      return true;
    case 'RuleFalse':
      return false;
    case 'RuleAnd':
      return combineAnd(await each(rules));
    case 'RuleOr':
      return combineOr(await each(rules));
    case 'RuleChain': {
      // Left to right, stopping at the first that does not allow (an undecided one may still allow: go on).
      const results: Result[] = [];
      for (const child of rules) {
        const result = await evaluate(child, parent, args, context, info);
        results.push(result);
        if (result !== true && result !== 'undecided') break;
      }
      return combineAnd(results);
    }
    case 'RuleRace': {
      // Left to right, stopping at the first that allows.
      const results: Result[] = [];
      for (const child of rules) {
        const result = await evaluate(child, parent, args, context, info);
        results.push(result);
        if (result === true) break;
      }
      return combineOr(results);
    }
    case 'RuleNot': {
      const [child] = rules;
      if (child === undefined) return false;
      const result = await evaluate(child, parent, args, context, info);
      if (result === 'undecided' || result instanceof RuleThrew) return result;
      if (result !== true) return true;
      const error = (shieldRule as unknown as LogicRule).error;
      return error instanceof Error ? error : false;
    }
  }
}

async function evaluateLeaf(leaf: LeafRule, parent: unknown, args: Record<string, unknown>, context: RuleContext, info: GraphQLResolveInfo): Promise<Result> {
  if (parent === NO_PARENT && readsParent(leaf)) return 'undecided';
  try {
    // debug: true makes shield rethrow what the rule threw, so that it can be logged here. A contextual rule judged
    // before execution gets an empty parent: it promised not to read it.
    const result = await leaf.resolve(parent === NO_PARENT ? {} : parent, args, context, info, {
      debug: true,
      allowExternalErrors: false,
      hashFunction: stableHash,
    });
    if (result === true) return true;
    if (result instanceof Error) return result;
    if (typeof result === 'string') return new Error(result);
    return false;
  } catch (error) {
    context.onRuleError(error, typeof leaf.name === 'string' ? leaf.name : 'unnamed rule');
    return new RuleThrew();
  }
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

/** The fragments a rule tree declares (leaves' `fragment` option): what it reads of its parent. */
export function parentFragments(shieldRule: ShieldRule): string[] {
  if (logicKind(shieldRule) !== undefined) return ((shieldRule as unknown as LogicRule).getRules() as ShieldRule[]).flatMap(parentFragments);
  const fragment = (shieldRule as unknown as LeafRule).extractFragment?.();
  return typeof fragment === 'string' ? [fragment] : [];
}

/** The leaves and logic rules of a rule tree, each once, for walks (the access matrix names the leaves). */
export function childRules(shieldRule: ShieldRule): ShieldRule[] {
  return logicKind(shieldRule) === undefined ? [] : ((shieldRule as unknown as LogicRule).getRules() as ShieldRule[]);
}

/** A leaf's name (shield's `rule('name')`), undefined for logic rules. */
export function leafName(shieldRule: ShieldRule): string | undefined {
  if (logicKind(shieldRule) !== undefined) return undefined;
  const name = (shieldRule as unknown as LeafRule).name;
  return typeof name === 'string' ? name : undefined;
}

/** Whether a rule tree is decided before execution for every caller: no leaf of it may read the parent. */
export function decidedWithoutParent(shieldRule: ShieldRule): boolean {
  if (logicKind(shieldRule) !== undefined) return childRules(shieldRule).every(decidedWithoutParent);
  return !readsParent(shieldRule as unknown as LeafRule);
}

/**
 * Whether some leaf of a rule tree may read its parent without declaring what in a `fragment`: the gateway cannot know
 * what it reads, and fetches the object's key fields for it (see compilePolicy).
 */
export function readsParentUndeclared(shieldRule: ShieldRule): boolean {
  if (logicKind(shieldRule) !== undefined) return childRules(shieldRule).some(readsParentUndeclared);
  const leaf = shieldRule as unknown as LeafRule;
  return readsParent(leaf) && typeof leaf.extractFragment?.() !== 'string';
}
