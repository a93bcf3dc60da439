import {
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FieldNode,
  isInterfaceType,
  type GraphQLCompositeType,
  type GraphQLError,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import type { FieldSelection, ObjectSelection, OperationAnalysis } from '../analysis/operationAnalysis.js';
import type { AuthzContext } from './authzContext.js';
import type { CompiledPolicy } from './compilePolicy.js';
import { fieldInfo } from './fieldInfo.js';
import { evaluateRule, NO_PARENT } from './ruleEvaluation.js';

/** What the check before execution found in one operation. */
export interface OperationCheck {
  /** Fields denied outright (on one object type), with the error to report at each. */
  denied: Map<FieldSelection, GraphQLError>;
  /** Field nodes no subgraph is asked for: every selection they stand for is denied. */
  removed: Set<FieldNode>;
  /** Fields whose rule may read the parent object: decided after execution, on each object. */
  guarded: Set<FieldSelection>;
  /**
   * Fields to fetch for the rules of guarded fields, by the selection set the guarded field is written in and the
   * object type whose rule reads them: `direct` where the selection set's own type has the field as that object type
   * has it (the object type itself, or an interface that declares it), `wrapped` under `... on <Type>` otherwise.
   */
  reads: Map<SelectionSetNode, Map<string, TypeReads>>;
  /** Selection sets that need `__typename`, to tell each object's type after execution. */
  typenames: Set<SelectionSetNode>;
  /** The selections the result filter must walk: they, or selections below them, hold something to decide. */
  visit: Set<ObjectSelection>;
}

/** What one object type's rules read in one selection set (see `OperationCheck.reads`). */
export interface TypeReads {
  direct: Set<FieldNode>;
  wrapped: Set<FieldNode>;
}

type Path = GraphQLResolveInfo['path'];

/**
 * Decides every field the operation will execute, reading the request's analysis (`analyzeOperation`), which has
 * collected the fields as execution would: fragments expanded, `@skip`/`@include` honoured, aliases followed, merged
 * by response key, and on abstract types every possible object type apart. Each shared selection is checked once, so
 * the work is linear in the document. Fields below a denied field are not looked at: they will not run.
 * Introspection fields are left to the introspection setting.
 *
 * A root field's parent is the root value, which exists before execution: its rule is decided here, whatever it
 * reads. Below the root a rule is decided here only if it cannot depend on its parent (graphql-shield's `cache:
 * 'contextual'`); otherwise the field is guarded: it is fetched, and its rule runs after execution on each object,
 * with the fields its `fragment` declares fetched for it.
 */
export async function checkOperation(input: {
  schema: GraphQLSchema;
  analysis: OperationAnalysis;
  policy: CompiledPolicy;
  context: AuthzContext;
}): Promise<OperationCheck> {
  const { schema, analysis, policy, context } = input;
  const check: OperationCheck = { denied: new Map(), removed: new Set(), guarded: new Set(), reads: new Map(), typenames: new Set(), visit: new Set() };
  const checked = new Set<ObjectSelection>();
  // A node stands for one selection per object type it is collected on: it is removed only if all of them are denied.
  const deniedNodes = new Set<FieldNode>();
  const neededNodes = new Set<FieldNode>();
  let containerTypes: Map<SelectionSetNode, GraphQLCompositeType | undefined> | undefined;

  const walk = async (selection: ObjectSelection, path: Path | undefined): Promise<void> => {
    if (checked.has(selection)) return;
    checked.add(selection);
    for (const field of selection.fields) {
      const { definition, parentType, fieldName, responseKey, nodes } = field;
      if (definition === undefined) {
        for (const node of nodes) neededNodes.add(node);
        continue;
      }
      const info = fieldInfo(schema, analysis, field, { prev: path, key: responseKey, typename: parentType.name });
      const fieldPolicy = policy.field(parentType, fieldName);
      const parent = path === undefined ? undefined : NO_PARENT;
      const decision = await evaluateRule(fieldPolicy.rule, parent, { ...field.args }, context, info, policy.options);
      if (decision.kind === 'deny') {
        check.denied.set(field, decision.error);
        for (const node of nodes) deniedNodes.add(node);
        continue;
      }
      for (const node of nodes) neededNodes.add(node);
      if (decision.kind === 'undecided') {
        check.guarded.add(field);
        if (fieldPolicy.reads.length > 0) {
          containerTypes ??= selectionSetTypes(schema, analysis);
          for (const container of field.containers) {
            const byType = check.reads.get(container) ?? new Map<string, TypeReads>();
            const reads = byType.get(parentType.name) ?? { direct: new Set<FieldNode>(), wrapped: new Set<FieldNode>() };
            const containerType = containerTypes.get(container);
            for (const read of fieldPolicy.reads) {
              // Asked of every object of the selection set where its type declares the field as the object type has
              // it (@apollo/gateway mishandles some type conditions under @interfaceObject), else under a type condition
              // on the object type, matched by each object's `__typename`, which the planner then fetches.
              if (declaresAlike(containerType, parentType, read.name.value)) reads.direct.add(read);
              else {
                reads.wrapped.add(read);
                check.typenames.add(container);
              }
            }
            byType.set(parentType.name, reads);
            check.reads.set(container, byType);
          }
        }
      }
      for (const child of field.children) await walk(child, { prev: path, key: responseKey, typename: undefined });
    }
  };

  if (analysis.root !== undefined) {
    await walk(analysis.root, undefined);
    for (const node of deniedNodes) if (!neededNodes.has(node)) check.removed.add(node);
    if (check.denied.size > 0 || check.guarded.size > 0) markVisits(analysis.root, check);
  }
  return check;
}

/**
 * Marks, bottom-up, the selections the result filter must walk: those holding a denied or guarded field, and those
 * above them. Where such a walk passes through a field of abstract type, each object's type must be told: the field's
 * selection set gets `__typename` (the rewrite adds none where the client selects it there, unconditionally).
 */
function markVisits(root: ObjectSelection, check: OperationCheck): void {
  const pass = () => {
    const memo = new Map<ObjectSelection, boolean>();
    const needs = (selection: ObjectSelection): boolean => {
      const known = memo.get(selection);
      if (known !== undefined) return known;
      memo.set(selection, false); // a cycle (never valid) needs nothing more
      let needed = false;
      for (const field of selection.fields) {
        // An object collected from a selection set that gained `__typename` or reads (asked of every object of it) is
        // walked, to take them out again.
        if (field.containers.some((container) => check.typenames.has(container) || check.reads.has(container))) needed = true;
        if (check.denied.has(field)) {
          needed = true;
          continue;
        }
        if (check.guarded.has(field)) needed = true;
        let below = false;
        for (const child of field.children) if (needs(child)) below = true;
        // A node written once and collected in several places (a fragment's) gets `__typename` in all of them: every
        // object it reaches is walked, to take it out again.
        if (!below && !field.nodes.some((node) => node.selectionSet !== undefined && check.typenames.has(node.selectionSet))) continue;
        needed = true;
        // Below a field of abstract type, each object's type must be told. Where every type with something to decide
        // selects `__typename` itself (for this request's variables), an object without one is of a type with nothing
        // to decide; otherwise `__typename` is added beside the field's own selections, and every object is walked,
        // to take it out again. (Added only where needed: @apollo/gateway answers some `__typename`s under
        // @interfaceObject with a null object.)
        const needing = field.children.filter((child) => memo.get(child) === true);
        if (field.abstract && !needing.every(selectsTypename)) {
          const selectionSet = field.nodes[0]?.selectionSet;
          if (selectionSet !== undefined) check.typenames.add(selectionSet);
        }
        const typenameAdded = field.nodes.some((node) => node.selectionSet !== undefined && check.typenames.has(node.selectionSet));
        for (const child of typenameAdded ? field.children : needing) check.visit.add(child);
      }
      memo.set(selection, needed);
      if (needed) check.visit.add(selection);
      return needed;
    };
    needs(root);
    check.visit.add(root);
  };
  // Adding `__typename` to a shared node can make more places need a walk, and so more `__typename`: to a fixpoint
  // (the set only grows, and is bounded by the document's selection sets).
  let added: number;
  do {
    added = check.typenames.size;
    check.visit.clear();
    pass();
  } while (check.typenames.size !== added);
}

function selectsTypename(selection: ObjectSelection): boolean {
  return selection.fields.some((field) => field.responseKey === '__typename' && field.fieldName === '__typename');
}

/** Whether a selection set's type has a field as an object type of it has it: same type, same arguments. */
function declaresAlike(containerType: GraphQLCompositeType | undefined, objectType: GraphQLObjectType, fieldName: string): boolean {
  if (containerType === objectType) return true;
  if (!isInterfaceType(containerType)) return false;
  const declared = containerType.getFields()[fieldName];
  const own = objectType.getFields()[fieldName];
  if (declared === undefined || own === undefined || String(declared.type) !== String(own.type)) return false;
  return declared.args.length === own.args.length && declared.args.every((arg, index) => arg.name === own.args[index]?.name && String(arg.type) === String(own.args[index]?.type));
}

/** The type of every selection set of the operation and its fragments (an object, interface or union type). */
function selectionSetTypes(schema: GraphQLSchema, analysis: OperationAnalysis): Map<SelectionSetNode, GraphQLCompositeType | undefined> {
  const types = new Map<SelectionSetNode, GraphQLCompositeType | undefined>();
  const typeInfo = new TypeInfo(schema);
  const document: DocumentNode = { kind: Kind.DOCUMENT, definitions: [analysis.operation, ...Object.values(analysis.fragments)] };
  visit(document, visitWithTypeInfo(typeInfo, { SelectionSet: (node) => void types.set(node, typeInfo.getParentType() ?? undefined) }));
  return types;
}

