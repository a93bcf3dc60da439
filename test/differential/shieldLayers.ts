import { isIntrospectionType, isObjectType, Kind, parse, type DocumentNode, type GraphQLError, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { IMiddlewareGenerator } from 'graphql-middleware';
import { allow, and, chain, deny, not, or, race, shield, type IRules } from 'graphql-shield';
import { compilePolicy } from '../../src/authz/compilePolicy.js';
import type { MonolithContext } from './monolith.js';

/** A graphql-shield rule: shield exports its constructors, not the type of what they build. */
export type ShieldRule = Parameters<typeof and>[0];

type ResolveArguments = Parameters<ShieldRule['resolve']>;

/** A policy as graphql-shield takes it: the rule tree, the named rules @policy refers to, and shield's options. */
export interface ShieldPolicy {
  ruleTree: IRules;
  policies: Readonly<Record<string, ShieldRule>>;
  options: { fallbackRule: ShieldRule; fallbackError: GraphQLError; allowExternalErrors: boolean };
}

/** A field's decision before its parent exists: allowed, denied (with each error it may be reported with), or not yet. */
export type EarlyDecision = { kind: 'allow' } | { kind: 'deny'; errors: Error[] } | { kind: 'undecided' };

/**
 * The policy as real graphql-shield applies it on the monolith, in two layers of middleware:
 *
 * - outside, the policy's rule tree exactly as written, so that shield itself looks each field's rule up (field entry,
 *   `*`, type-wide rule, fallbackRule) with the policy's options;
 * - inside, the rules the supergraph SDL declares (@authenticated, @requiresScopes, @policy), read by the gateway's
 *   compilePolicy from an empty tree whose fallback allows, so that a field without a directive passes.
 *
 * A field runs when both allow: the gateway's `and(tree rule, directive rules)`. The two agree on which error is
 * reported as long as the directive rules return booleans (isAuthenticated, hasScopes, hasRole do): when the tree
 * denies, shield's `and` and the outer layer both report the tree's error or the fallback error.
 */
export interface ShieldLayers {
  /** Outermost first, for graphql-middleware's `applyMiddleware`. */
  middlewares: IMiddlewareGenerator<unknown, MonolithContext, unknown>[];
  /** The tree's rule for a field (as shield looks it up) and the directives' rule (`allow` when none). */
  rulesOf(typeName: string, fieldName: string): { tree: ShieldRule; directives: ShieldRule };
  /** What shield's middleware decides on a field: true, or the error it returns in place of the value. */
  decide(typeName: string, fieldName: string, parent: unknown, args: Record<string, unknown>, context: MonolithContext): Promise<true | Error>;
  /**
   * What can be decided on a field below the root before its parent exists: shield's decision whatever the rules
   * that may read the parent (every leaf but `cache: 'contextual'` ones) answer, if it is the same for all.
   */
  decideWithoutParent(typeName: string, fieldName: string, args: Record<string, unknown>, context: MonolithContext): Promise<EarlyDecision>;
  options: ShieldPolicy['options'];
}

/** Enough for the hand-written policies: 2^4 substitutions per field at most. */
const MAX_PARENT_READERS = 4;

export function shieldLayers(apiSchema: GraphQLSchema, supergraph: DocumentNode, policy: ShieldPolicy): ShieldLayers {
  const { options } = policy;
  const shieldOptions = { ...options, debug: false };
  const directives = compilePolicy(apiSchema, supergraph, { ruleTree: {}, policies: policy.policies, options: { fallbackRule: allow, fallbackError: options.fallbackError } });
  const directiveTree: Record<string, Record<string, ShieldRule>> = {};
  for (const type of Object.values(apiSchema.getTypeMap())) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue;
    directiveTree[type.name] = Object.fromEntries(Object.keys(type.getFields()).map((field) => [field, directives.field(type, field).rule]));
  }
  // shield's own default hash is object-hash, which only keys its `strict` cache: any stable hash decides the same.
  const resolveOptions: ResolveArguments[4] = { ...shieldOptions, hashFunction: (input) => JSON.stringify(input) };

  const rulesOf = (typeName: string, fieldName: string) => ({
    tree: treeRule(policy.ruleTree, typeName, fieldName) ?? options.fallbackRule,
    directives: directiveTree[typeName]?.[fieldName] ?? allow,
  });

  /** shield's field middleware (graphql-shield generator.ts) on each layer in turn, outermost first. */
  const decideWith = async (layers: ShieldRule[], typeName: string, fieldName: string, parent: unknown, args: Record<string, unknown>, context: MonolithContext) => {
    const info = { fieldName, parentType: apiSchema.getType(typeName), schema: apiSchema } as GraphQLResolveInfo;
    for (const layer of layers) {
      const result = await layer.resolve(parent as object, args, context as unknown as ResolveArguments[2], info, resolveOptions);
      if (result === true) continue;
      return result instanceof Error ? result : options.fallbackError;
    }
    return true as const;
  };

  return {
    middlewares: [shield(policy.ruleTree, shieldOptions), shield(directiveTree as IRules, { ...shieldOptions, fallbackRule: allow })],
    rulesOf,
    decide: (typeName, fieldName, parent, args, context) => decideWith(Object.values(rulesOf(typeName, fieldName)), typeName, fieldName, parent, args, context),
    async decideWithoutParent(typeName, fieldName, args, context) {
      const layers = Object.values(rulesOf(typeName, fieldName));
      const readers = [...new Set(layers.flatMap(leavesOf).filter((leaf) => cacheOf(leaf) !== 'contextual'))];
      if (readers.length > MAX_PARENT_READERS) throw new Error(`${typeName}.${fieldName} has more rules that may read the parent than the test enumerates`);
      const decisions: (true | Error)[] = [];
      for (let assignment = 0; assignment < 2 ** readers.length; assignment += 1) {
        const answers = new Map(readers.map((reader, index) => [reader, (assignment >> index) & 1 ? allow : deny]));
        // A contextual rule promised not to read its parent: it gets an empty one.
        decisions.push(await decideWith(layers.map((layer) => substitute(layer, answers)), typeName, fieldName, {}, args, context));
      }
      const errors = decisions.filter((decision): decision is Error => decision !== true);
      return errors.length === 0 ? { kind: 'allow' } : errors.length === decisions.length ? { kind: 'deny', errors } : { kind: 'undecided' };
    },
    options,
  };
}

/** graphql-shield's lookup (generator.ts): a rule for all, a type-wide rule, the field's entry, the type's `*`. */
function treeRule(tree: IRules, typeName: string, fieldName: string): ShieldRule | undefined {
  if (isRule(tree)) return tree;
  const forType = (tree as Record<string, unknown>)[typeName];
  if (forType === undefined) return undefined;
  if (isRule(forType)) return forType;
  const fields = forType as Record<string, ShieldRule | undefined>;
  return fields[fieldName] ?? fields['*'];
}

function isRule(value: unknown): value is ShieldRule {
  return typeof value === 'object' && value !== null && typeof (value as { resolve?: unknown }).resolve === 'function';
}

const LOGIC = { and: (and() as object).constructor, or: (or() as object).constructor, chain: (chain() as object).constructor, race: (race() as object).constructor, not: (not(allow) as object).constructor };

/** The same rule tree with some leaves replaced (by allow or deny), rebuilt with shield's own constructors. */
function substitute(shieldRule: ShieldRule, replacements: ReadonlyMap<ShieldRule, ShieldRule>): ShieldRule {
  const replacement = replacements.get(shieldRule);
  if (replacement !== undefined) return replacement;
  if (!('getRules' in shieldRule) || shieldRule.getRules().length === 0) return shieldRule;
  const children = shieldRule.getRules().map((child) => substitute(child, replacements));
  if (shieldRule instanceof LOGIC.and) return and(...children);
  if (shieldRule instanceof LOGIC.or) return or(...children);
  if (shieldRule instanceof LOGIC.chain) return chain(...children);
  if (shieldRule instanceof LOGIC.race) return race(...children);
  if (shieldRule instanceof LOGIC.not && children[0] !== undefined) return not(children[0], (shieldRule as { error?: Error }).error);
  throw new Error(`a logic rule the test cannot rebuild: ${shieldRule.constructor.name}`);
}

/** The leaf rules of a rule tree (through and/or/not/chain/race; allow and deny have none). */
export function leavesOf(shieldRule: ShieldRule): ShieldRule[] {
  return 'getRules' in shieldRule ? shieldRule.getRules().flatMap(leavesOf) : [shieldRule];
}

/** A leaf rule's `cache` option; shield keeps it in a private field. */
export function cacheOf(leaf: ShieldRule): unknown {
  return (leaf as unknown as { cache?: unknown }).cache;
}

/** The top-level fields the `fragment`s of a rule tree select: what its rules declare they read of the parent. */
export function fragmentFields(shieldRule: ShieldRule): string[] {
  const fields = new Set<string>();
  for (const leaf of leavesOf(shieldRule)) {
    const fragment = 'extractFragment' in leaf ? leaf.extractFragment() : undefined;
    const definition = fragment === undefined ? undefined : parse(fragment).definitions[0];
    if (definition?.kind !== Kind.FRAGMENT_DEFINITION) continue;
    for (const selection of definition.selectionSet.selections) if (selection.kind === Kind.FIELD) fields.add(selection.name.value);
  }
  return [...fields];
}
