import { Kind, type ConstDirectiveNode, type DocumentNode, type NamedTypeNode, type TypeNode } from 'graphql';

/** Apollo's cache hint (`@cacheControl(maxAge:, scope:, inheritMaxAge:)`), as Apollo Server reads it off a directive. */
export interface CacheHint {
  readonly maxAge?: number;
  readonly scope?: CacheScope;
  readonly inheritMaxAge?: true;
}
export type CacheScope = 'PUBLIC' | 'PRIVATE';

export interface TypeHints {
  readonly kind: 'object' | 'interface' | 'union' | 'leaf';
  readonly hint: CacheHint;
  /** Object types a value of this type may be: itself for an object type, members or implementations otherwise. */
  readonly possibleTypes: readonly string[];
}

export interface FieldHints {
  readonly hint: CacheHint;
  /** The named type the field returns, wrappers (lists, non-null) removed. */
  readonly returnType: string;
}

/**
 * The cache hints of one supergraph, per type and per field, read once when it loads. Subgraphs declare them with
 * `@cacheControl`, which composition keeps in the supergraph because each subgraph names it in `@composeDirective`.
 */
export interface CacheHints {
  type(name: string): TypeHints | undefined;
  field(typename: string, field: string): FieldHints | undefined;
  /** The root operation types' names. */
  readonly roots: { readonly query: string; readonly mutation: string | undefined };
}

const NO_HINT: CacheHint = Object.freeze({});

/**
 * Reads `@cacheControl` as Apollo Server's cache control plugin does (cacheAnnotationFromDirectives): `inheritMaxAge:
 * true` wins over `maxAge`; a scope other than PUBLIC or PRIVATE is no scope. A type's hint is the first found on its
 * definition, then on its extensions.
 */
export function cacheHints(supergraph: DocumentNode): CacheHints {
  const types = new Map<string, { kind: TypeHints['kind']; hint: CacheHint; possibleTypes: string[] }>();
  const fields = new Map<string, FieldHints>();
  const implementations = new Map<string, string[]>();
  let query = 'Query';
  let mutation: string | undefined;
  let mutationDeclared = false;

  const entry = (name: string, kind: TypeHints['kind']) => {
    let found = types.get(name);
    if (found === undefined) {
      found = { kind, hint: NO_HINT, possibleTypes: kind === 'object' ? [name] : [] };
      types.set(name, found);
    }
    return found;
  };
  for (const definition of supergraph.definitions) {
    switch (definition.kind) {
      case Kind.SCHEMA_DEFINITION:
      case Kind.SCHEMA_EXTENSION:
        for (const operation of definition.operationTypes ?? []) {
          if (operation.operation === 'query') query = operation.type.name.value;
          if (operation.operation === 'mutation') {
            mutation = operation.type.name.value;
            mutationDeclared = true;
          }
        }
        break;
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION:
      case Kind.INTERFACE_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_EXTENSION: {
        const isObject = definition.kind === Kind.OBJECT_TYPE_DEFINITION || definition.kind === Kind.OBJECT_TYPE_EXTENSION;
        const type = entry(definition.name.value, isObject ? 'object' : 'interface');
        if (type.hint === NO_HINT) type.hint = hintOf(definition.directives);
        if (isObject) {
          for (const iface of definition.interfaces ?? []) {
            const list = implementations.get(iface.name.value) ?? [];
            list.push(definition.name.value);
            implementations.set(iface.name.value, list);
          }
        }
        for (const field of definition.fields ?? []) fields.set(`${definition.name.value}.${field.name.value}`, { hint: hintOf(field.directives), returnType: namedType(field.type).name.value });
        break;
      }
      case Kind.UNION_TYPE_DEFINITION:
      case Kind.UNION_TYPE_EXTENSION: {
        const type = entry(definition.name.value, 'union');
        if (type.hint === NO_HINT) type.hint = hintOf(definition.directives);
        type.possibleTypes.push(...(definition.types ?? []).map((member) => member.name.value));
        break;
      }
      case Kind.SCALAR_TYPE_DEFINITION:
      case Kind.ENUM_TYPE_DEFINITION:
        entry(definition.name.value, 'leaf');
        break;
      default:
        break;
    }
  }
  for (const [iface, objects] of implementations) {
    const type = types.get(iface);
    if (type?.kind === 'interface') type.possibleTypes.push(...objects);
  }
  if (!mutationDeclared && types.has('Mutation')) mutation = 'Mutation';
  for (const builtIn of ['String', 'Int', 'Float', 'Boolean', 'ID']) entry(builtIn, 'leaf');

  return {
    type: (name) => types.get(name),
    field: (typename, field) => fields.get(`${typename}.${field}`),
    roots: { query, mutation },
  };
}

function namedType(type: TypeNode): NamedTypeNode {
  return type.kind === Kind.NAMED_TYPE ? type : namedType(type.type);
}

function hintOf(directives: readonly ConstDirectiveNode[] | undefined): CacheHint {
  const directive = directives?.find((candidate) => candidate.name.value === 'cacheControl');
  if (directive === undefined) return NO_HINT;
  const argument = (name: string) => directive.arguments?.find((candidate) => candidate.name.value === name)?.value;
  const scopeValue = argument('scope');
  const scopeName = scopeValue?.kind === Kind.ENUM ? scopeValue.value : undefined;
  const scope = scopeName === 'PUBLIC' || scopeName === 'PRIVATE' ? scopeName : undefined;
  const inherit = argument('inheritMaxAge');
  if (inherit?.kind === Kind.BOOLEAN && inherit.value) return scope === undefined ? { inheritMaxAge: true } : { inheritMaxAge: true, scope };
  const maxAge = argument('maxAge');
  const age = maxAge?.kind === Kind.INT ? Number.parseInt(maxAge.value, 10) : undefined;
  return { ...(age === undefined ? {} : { maxAge: age }), ...(scope === undefined ? {} : { scope }) };
}
