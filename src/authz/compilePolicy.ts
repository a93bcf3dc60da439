import {
  getNamedType,
  isIntrospectionType,
  isObjectType,
  Kind,
  parse,
  print,
  valueFromASTUntyped,
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { and, deny, or, type IRules } from 'graphql-shield';
import { hasScopes, isAuthenticated } from './rules.js';
import { isShieldRule, parentFragments, readsParentUndeclared, type ShieldOptions, type ShieldRule } from './ruleEvaluation.js';

/** The access policy as written: a graphql-shield rule tree, the named rules `@policy` refers to, and shield's options. */
export interface Policy {
  ruleTree: IRules;
  policies: Readonly<Record<string, ShieldRule>>;
  options: ShieldOptions;
}

/** How one field of one object type is guarded. */
export interface FieldPolicy {
  rule: ShieldRule;
  /** False when nothing names the field and the fallback rule decides it. */
  explicit: boolean;
  /**
   * Fields of the parent object the rule reads (the top-level fields of its fragments, with their arguments and
   * selections), fetched for it even if the client did not ask.
   */
  reads: readonly FieldNode[];
  /** Where the rule comes from, for the access matrix: `rule tree`, `@authenticated`, ... */
  sources: readonly string[];
}

/** The policy applied to one supergraph: a rule for every field, built once per schema. */
export interface CompiledPolicy {
  field(type: GraphQLObjectType, fieldName: string): FieldPolicy;
  /** `Type.field` of every field only the fallback rule covers. */
  uncovered: readonly string[];
  /** Problems found while compiling that did not stop it (a rule for a field that no longer exists, ...). */
  warnings: readonly string[];
  options: ShieldOptions;
}

/**
 * Resolves, for every field of every object type of the API schema, its rule: the rule tree's (field entry, else the
 * type's `*` entry, else a rule for the whole type, else the fallback, exactly as graphql-shield looks rules up),
 * combined with the rules the supergraph declares with @authenticated, @requiresScopes and @policy (all must allow).
 * A field that only a directive names counts as covered: the directive is the decision.
 *
 * The directives are read from the supergraph SDL, since the API schema the gateway builds drops them. On a type they
 * apply to every field that returns that type (as Apollo Router and Cosmo read them); on an interface field, to that
 * field in every implementation.
 */
/** `supergraph`: its SDL, or the document parsed from it once per load (see SupergraphFacts). */
export function compilePolicy(schema: GraphQLSchema, supergraph: string | DocumentNode, policy: Policy): CompiledPolicy {
  const warnings: string[] = [];
  const document = typeof supergraph === 'string' ? parse(supergraph) : supergraph;
  const directives = directiveRules(document, policy.policies, warnings);
  const keyFields = entityKeys(document);
  const fields = new Map<string, FieldPolicy>();
  const uncovered: string[] = [];
  checkRuleTreeNamesExist(schema, policy.ruleTree, warnings);
  // One read per field of a type, whichever rules read it: fetched once under one alias.
  const reads = new Map<string, Map<string, FieldNode>>();
  const readsOfType = (typeName: string) => {
    let byName = reads.get(typeName);
    if (byName === undefined) reads.set(typeName, (byName = new Map()));
    return byName;
  };

  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const fromTree = treeRule(policy.ruleTree, type.name, field.name);
      const declared = [
        ...(directives.fields.get(`${type.name}.${field.name}`) ?? []),
        ...type.getInterfaces().flatMap((iface) => directives.fields.get(`${iface.name}.${field.name}`) ?? []),
        ...(directives.types.get(getNamedType(field.type).name) ?? []),
      ];
      const rules = [...(fromTree ? [fromTree] : declared.length === 0 ? [policy.options.fallbackRule] : []), ...declared.map((entry) => entry.rule)];
      const rule = rules.length === 1 ? (rules[0] as ShieldRule) : and(...rules);
      const explicit = fromTree !== undefined || declared.length > 0;
      if (!explicit) uncovered.push(`${type.name}.${field.name}`);
      fields.set(`${type.name}.${field.name}`, {
        rule,
        explicit,
        reads: readFields(rule, type, readsOfType(type.name), keyFields.get(type.name), warnings),
        sources: [...(fromTree ? ['rule tree'] : explicit ? [] : ['fallback']), ...declared.map((entry) => entry.source)],
      });
    }
  }

  return {
    field(type, fieldName) {
      const found = fields.get(`${type.name}.${fieldName}`);
      // A field the schema does not have cannot be selected (validation ran first); deny all the same.
      return found ?? { rule: deny, explicit: false, reads: [], sources: ['fallback'] };
    },
    uncovered,
    warnings,
    options: policy.options,
  };
}

/** graphql-shield's lookup: a rule for every type, a type's rule, its field's rule, its `*` rule; undefined: fallback. */
function treeRule(tree: IRules, typeName: string, fieldName: string): ShieldRule | undefined {
  if (isShieldRule(tree)) return tree;
  const forType = (tree as Record<string, unknown>)[typeName];
  if (forType === undefined) return undefined;
  if (isShieldRule(forType)) return forType;
  const fieldMap = forType as Record<string, ShieldRule | undefined>;
  return (Object.hasOwn(fieldMap, fieldName) ? fieldMap[fieldName] : undefined) ?? fieldMap['*'];
}

function checkRuleTreeNamesExist(schema: GraphQLSchema, tree: IRules, warnings: string[]): void {
  if (isShieldRule(tree)) return;
  for (const [typeName, entry] of Object.entries(tree as Record<string, unknown>)) {
    const type = schema.getType(typeName);
    if (!isObjectType(type)) {
      warnings.push(`the rule tree names type ${typeName}, which the supergraph does not have`);
      continue;
    }
    if (isShieldRule(entry)) continue;
    for (const fieldName of Object.keys(entry as object)) {
      if (fieldName !== '*' && type.getFields()[fieldName] === undefined) warnings.push(`the rule tree names ${typeName}.${fieldName}, which the supergraph does not have`);
    }
  }
}

/**
 * What a rule reads of its parent: the fields its fragments declare, and where some leaf may read the parent without
 * declaring what, the object's key fields too (what such a rule most often reads: `parent.id`), when it has any.
 */
function readFields(rule: ShieldRule, type: GraphQLObjectType, ofType: Map<string, FieldNode>, keys: readonly FieldNode[] | undefined, warnings: string[]): FieldNode[] {
  const declared = fragmentFields(rule, type, ofType, warnings);
  if (keys === undefined || !readsParentUndeclared(rule)) return declared;
  const names = new Set(declared.map((read) => read.name.value));
  const extra: FieldNode[] = [];
  for (const key of keys) {
    if (names.has(key.name.value)) continue;
    const known = ofType.get(key.name.value);
    if (known === undefined) ofType.set(key.name.value, key);
    extra.push(known ?? key);
  }
  return [...declared, ...extra];
}

/** The fields of each entity type's first key (`@join__type(key:)` in the supergraph). */
function entityKeys(supergraph: DocumentNode): Map<string, FieldNode[]> {
  const keys = new Map<string, FieldNode[]>();
  for (const definition of supergraph.definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    for (const directive of definition.directives ?? []) {
      if (directive.name.value !== 'join__type' || keys.has(definition.name.value)) continue;
      const key = directive.arguments?.find((argument) => argument.name.value === 'key')?.value;
      if (key?.kind !== Kind.STRING) continue;
      const selection = (parse(`{ ${key.value} }`).definitions[0] as OperationDefinitionNode).selectionSet.selections;
      keys.set(definition.name.value, selection.filter((node): node is FieldNode => node.kind === Kind.FIELD));
    }
  }
  return keys;
}

/**
 * The top-level fields a rule's fragments select: what the rule reads of its parent. Fields the type does not have
 * are left out with a warning (the rule sees them missing); a field read twice is read once.
 */
function fragmentFields(rule: ShieldRule, type: GraphQLObjectType, ofType: Map<string, FieldNode>, warnings: string[]): FieldNode[] {
  const reads = new Map<string, FieldNode>();
  for (const fragment of parentFragments(rule)) {
    let definition;
    try {
      definition = parse(fragment).definitions[0];
    } catch (error) {
      warnings.push(`a rule on ${type.name} declares a fragment that does not parse (${(error as Error).message}): it reads nothing`);
      continue;
    }
    if (definition?.kind !== Kind.FRAGMENT_DEFINITION) continue;
    for (const selection of definition.selectionSet.selections) {
      if (selection.kind !== Kind.FIELD) {
        warnings.push(`a rule on ${type.name} declares a fragment with a spread or inline fragment: only its fields are read`);
        continue;
      }
      const name = selection.name.value;
      if (name.startsWith('__')) continue;
      if (type.getFields()[name] === undefined) {
        warnings.push(`a rule on ${type.name} reads ${name} in its fragment, which ${type.name} does not have`);
        continue;
      }
      // Read as the rule will see it: under the field's name, whatever alias the fragment gives it.
      const read: FieldNode = { ...selection, alias: undefined };
      const known = ofType.get(name);
      if (known === undefined) ofType.set(name, read);
      else if (print(known) !== print(read)) warnings.push(`rules on ${type.name} read ${name} in different ways (${print(known)}, ${print(read)}): each sees ${print(known)}`);
      if (!reads.has(name)) reads.set(name, known ?? read);
    }
  }
  return [...reads.values()];
}

interface DeclaredRule {
  rule: ShieldRule;
  source: string;
}

/** The authorization directives of a supergraph, by `Type.field` and by type name. */
function directiveRules(
  supergraph: DocumentNode,
  policies: Readonly<Record<string, ShieldRule>>,
  warnings: string[],
): { fields: Map<string, DeclaredRule[]>; types: Map<string, DeclaredRule[]> } {
  const fields = new Map<string, DeclaredRule[]>();
  const types = new Map<string, DeclaredRule[]>();
  const add = (map: Map<string, DeclaredRule[]>, key: string, rules: DeclaredRule[]) => {
    if (rules.length > 0) map.set(key, [...(map.get(key) ?? []), ...rules]);
  };

  for (const definition of supergraph.definitions) {
    if (!('name' in definition) || definition.name === undefined || !('directives' in definition)) continue;
    const typeName = definition.name.value;
    add(types, typeName, rulesOf(definition.directives ?? [], policies, warnings));
    if ('fields' in definition && Array.isArray(definition.fields)) {
      for (const field of definition.fields) {
        if (field.kind !== Kind.FIELD_DEFINITION) continue;
        add(fields, `${typeName}.${field.name.value}`, rulesOf(field.directives ?? [], policies, warnings));
      }
    }
  }
  return { fields, types };
}

function rulesOf(directives: readonly DirectiveNode[], policies: Readonly<Record<string, ShieldRule>>, warnings: string[]): DeclaredRule[] {
  const rules: DeclaredRule[] = [];
  for (const directive of directives) {
    const argument = (name: string) => {
      const node = directive.arguments?.find((candidate) => candidate.name.value === name);
      return node === undefined ? undefined : valueFromASTUntyped(node.value);
    };
    switch (directive.name.value) {
      case 'authenticated':
        rules.push({ rule: isAuthenticated, source: '@authenticated' });
        break;
      case 'requiresScopes': {
        // Apollo's semantics: any one of the inner lists, all scopes of that list.
        const alternatives = nestedStrings(argument('scopes'));
        rules.push({ rule: alternatives.length === 0 ? deny : or(...alternatives.map((scopes) => hasScopes(scopes))), source: '@requiresScopes' });
        break;
      }
      case 'policy': {
        const alternatives = nestedStrings(argument('policies')).map((names) =>
          and(
            ...names.map((name) => {
              const named = policies[name];
              if (named === undefined) warnings.push(`@policy names "${name}", which is not one of the policy's named rules (policy.policies in the config module): it denies`);
              return named ?? deny;
            }),
          ),
        );
        rules.push({ rule: alternatives.length === 0 ? deny : or(...alternatives), source: '@policy' });
        break;
      }
    }
  }
  return rules;
}

function nestedStrings(value: unknown): string[][] {
  if (!Array.isArray(value)) return [];
  return value.filter(Array.isArray).map((inner: unknown[]) => inner.filter((item): item is string => typeof item === 'string'));
}
