import {
  getNamedType,
  GraphQLInterfaceType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLUnionType,
  isInputObjectType,
  isInterfaceType,
  isIntrospectionType,
  isListType,
  isNonNullType,
  isObjectType,
  isUnionType,
  validateSchema,
  type GraphQLFieldConfigMap,
  type GraphQLNamedType,
  type GraphQLType,
} from 'graphql';
import type { Principal } from '../auth/principal.js';
import { accessOf, type Access } from './accessMatrix.js';
import type { CompiledPolicy } from './compilePolicy.js';

/**
 * The schema as one caller may see it: the API schema without the fields their rules always deny (access `deny`,
 * judged before any data exists, as `accessOf` judges them). Fields decided on the object (`owner`) or on looked-up
 * data (`lookup`) stay, since the caller may get them, and so do their types.
 *
 * Then, to a fixpoint, what GraphQL requires of a valid schema: an object type or interface left with no fields goes,
 * a union left with no members goes, and so does every field returning a type that went (and every argument-less
 * reference to it: an interface drops from `implements` lists, an object from unions). An interface field stays only
 * where every implementation kept it. Types no longer reachable from a root type (through fields, arguments and the
 * implementations of reachable interfaces) go too: a type only a hidden field returned, or an input only a hidden
 * mutation took, names something the caller can never use. An empty Mutation or Subscription type is left out.
 *
 * Undefined when nothing of Query is left: GraphQL has no valid schema without a query type (see `visibleSchemas`).
 *
 * A view, not the enforcement: the gateway's check decides every request as before, whatever this shows.
 */
export function visibleSchema(schema: GraphQLSchema, access: ReadonlyMap<string, Access>): GraphQLSchema | undefined {
  const named = Object.values(schema.getTypeMap()).filter((type) => !isIntrospectionType(type));
  const objects = named.filter(isObjectType);
  const interfaces = named.filter(isInterfaceType);
  const unions = named.filter(isUnionType);

  // Field names kept per object type and interface, and the abstract types and objects that are gone.
  const kept = new Map<string, Set<string>>();
  for (const type of objects) kept.set(type.name, new Set(Object.keys(type.getFields()).filter((field) => (access.get(`${type.name}.${field}`) ?? 'deny') !== 'deny')));
  const gone = new Set<string>();
  const memberOf = (union: GraphQLUnionType) => union.getTypes().filter((member) => !gone.has(member.name));
  const returnsGone = (type: GraphQLType) => gone.has(getNamedType(type).name);

  for (let changed = true; changed; ) {
    changed = false;
    const drop = (name: string) => {
      if (gone.has(name)) return;
      gone.add(name);
      changed = true;
    };
    for (const type of interfaces) {
      if (gone.has(type.name)) continue;
      const implementations = schema.getPossibleTypes(type).filter((object) => !gone.has(object.name));
      const fields = Object.values(type.getFields()).filter((field) => !returnsGone(field.type) && implementations.every((object) => kept.get(object.name)?.has(field.name)));
      kept.set(type.name, new Set(fields.map((field) => field.name)));
    }
    for (const type of [...objects, ...interfaces]) {
      if (gone.has(type.name)) continue;
      const fields = kept.get(type.name) ?? new Set();
      for (const name of fields) {
        if (returnsGone(type.getFields()[name]!.type)) {
          fields.delete(name);
          changed = true;
        }
      }
      if (fields.size === 0) drop(type.name);
    }
    for (const union of unions) if (!gone.has(union.name) && memberOf(union).length === 0) drop(union.name);
  }

  const queryType = schema.getQueryType();
  if (queryType === null || queryType === undefined || gone.has(queryType.name)) return undefined;
  const roots = [queryType, schema.getMutationType(), schema.getSubscriptionType()].filter((type): type is GraphQLObjectType => type !== null && type !== undefined && !gone.has(type.name));
  const reachable = reachableTypes(schema, roots, kept, gone);

  // The kept types, rebuilt where they refer to others (objects, interfaces, unions); scalars, enums and input types
  // refer only to each other and are used as they are.
  const built = new Map<string, GraphQLNamedType>();
  const typeOf = (type: GraphQLType): GraphQLType => {
    if (isNonNullType(type)) return new GraphQLNonNull(typeOf(type.ofType));
    if (isListType(type)) return new GraphQLList(typeOf(type.ofType));
    return build(type);
  };
  const fieldsOf = (type: GraphQLObjectType | GraphQLInterfaceType): GraphQLFieldConfigMap<unknown, unknown> => {
    const config = type.toConfig().fields;
    const fields: GraphQLFieldConfigMap<unknown, unknown> = {};
    for (const name of kept.get(type.name) ?? []) {
      const field = config[name]!;
      fields[name] = { ...field, type: typeOf(field.type) as never, args: Object.fromEntries(Object.entries(field.args ?? {}).map(([arg, value]) => [arg, { ...value, type: typeOf(value.type) as never }])) };
    }
    return fields;
  };
  const liveInterfaces = (list: readonly GraphQLInterfaceType[]) => list.filter((type) => reachable.has(type.name)).map((type) => build(type) as GraphQLInterfaceType);
  function build(type: GraphQLNamedType): GraphQLNamedType {
    const existing = built.get(type.name);
    if (existing !== undefined) return existing;
    let copy: GraphQLNamedType;
    if (isObjectType(type)) copy = new GraphQLObjectType({ ...type.toConfig(), fields: () => fieldsOf(type), interfaces: () => liveInterfaces(type.getInterfaces()) });
    else if (isInterfaceType(type)) copy = new GraphQLInterfaceType({ ...type.toConfig(), fields: () => fieldsOf(type), interfaces: () => liveInterfaces(type.getInterfaces()) });
    else if (isUnionType(type)) copy = new GraphQLUnionType({ ...type.toConfig(), types: () => memberOf(type).filter((member) => reachable.has(member.name)).map((member) => build(member) as GraphQLObjectType) });
    else copy = type;
    built.set(type.name, copy);
    return copy;
  }

  const rootOf = (type: GraphQLObjectType | null | undefined) => (type !== null && type !== undefined && !gone.has(type.name) ? (build(type) as GraphQLObjectType) : undefined);
  const view = new GraphQLSchema({
    ...schema.toConfig(),
    query: rootOf(queryType),
    mutation: rootOf(schema.getMutationType()),
    subscription: rootOf(schema.getSubscriptionType()),
    types: [...reachable].map((name) => build(schema.getType(name)!)),
  });
  const problems = validateSchema(view);
  // Only a bug here could make an invalid view: fail loudly rather than answer introspection with it.
  if (problems.length > 0) throw new Error(`the visible schema is not valid: ${problems.map((problem) => problem.message).join('; ')}`);
  return view;
}

/**
 * The names of the types a caller can reach from the root types through kept fields and their arguments, and from a
 * reachable interface or union to its kept implementations and members (a client may spread on them).
 */
function reachableTypes(schema: GraphQLSchema, roots: readonly GraphQLObjectType[], kept: ReadonlyMap<string, ReadonlySet<string>>, gone: ReadonlySet<string>): Set<string> {
  const reachable = new Set<string>();
  const visit = (type: GraphQLNamedType): void => {
    if (reachable.has(type.name) || gone.has(type.name) || isIntrospectionType(type)) return;
    reachable.add(type.name);
    if (isObjectType(type) || isInterfaceType(type)) {
      const fields = type.getFields();
      for (const name of kept.get(type.name) ?? []) {
        const field = fields[name]!;
        visit(getNamedType(field.type));
        for (const arg of field.args) visit(getNamedType(arg.type));
      }
      for (const parent of type.getInterfaces()) visit(parent);
      if (isInterfaceType(type)) for (const object of schema.getPossibleTypes(type)) visit(object);
    } else if (isUnionType(type)) {
      for (const member of type.getTypes()) visit(member);
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) visit(getNamedType(field.type));
    }
  };
  roots.forEach(visit);
  return reachable;
}

/** Roles and scopes decide a caller's view (see `accessOf`): callers holding the same ones share one. */
export function viewKey(principal: Principal): string {
  if (principal.kind === 'anonymous') return 'anonymous';
  return `user|${[...new Set(principal.roles)].sort().join(',')}|${[...new Set(principal.scopes)].sort().join(',')}`;
}

/** Views kept per schema: distinct sets of roles and scopes are few, but they come from tokens, so they are bounded. */
const MAX_VIEWS = 256;

export interface VisibleSchemas {
  /** The caller's view of the schema (undefined: nothing of Query is visible to them), computed once per key. */
  of(principal: Principal): Promise<GraphQLSchema | undefined>;
}

/**
 * The views of one API schema under its compiled policy, one per `viewKey`, computed on first use and kept (the
 * oldest dropped past MAX_VIEWS). Each is judged for a stand-in principal holding the caller's roles and scopes, so
 * that the view is the same for everyone with that key.
 */
export function visibleSchemas(schema: GraphQLSchema, compiled: CompiledPolicy): VisibleSchemas {
  const views = new Map<string, Promise<GraphQLSchema | undefined>>();
  return {
    of(principal) {
      const key = viewKey(principal);
      let view = views.get(key);
      if (view === undefined) {
        const standIn: Principal = principal.kind === 'anonymous' ? principal : { kind: 'user', subject: 'someone', roles: principal.roles, scopes: principal.scopes };
        view = accessOf(schema, compiled, standIn).then((access) => visibleSchema(schema, access));
        // A failed computation is not kept: the next request tries again.
        view.catch(() => views.delete(key));
        if (views.size >= MAX_VIEWS) views.delete(views.keys().next().value!);
        views.set(key, view);
      }
      return view;
    },
  };
}
