import type { FieldNode, GraphQLError, GraphQLResolveInfo, GraphQLSchema, SelectionSetNode } from 'graphql';
import type { ObjectSelection, OperationAnalysis } from '../analysis/operationAnalysis.js';
import type { AuthzContext } from './authzContext.js';
import type { CompiledPolicy } from './compilePolicy.js';
import { evaluateRule, NO_PARENT } from './ruleEvaluation.js';

/** What the check before execution found in one operation. */
export interface OperationCheck {
  /** Fields denied outright, with the error to report at each. */
  denied: Map<FieldNode, GraphQLError>;
  /** Fields whose rule reads the parent object: decided after execution. */
  guarded: Set<FieldNode>;
  /** Parent fields to fetch for guarded fields, by the selection set that selects them. */
  parentFields: Map<SelectionSetNode, Set<string>>;
  /** Selection sets of abstract type, which need `__typename` to tell the object type after execution. */
  abstractSelections: Set<SelectionSetNode>;
}

type Path = GraphQLResolveInfo['path'];

/**
 * Decides every field the operation will execute, reading the request's analysis (`analyzeOperation`), which has
 * collected the fields as execution would: fragments expanded, `@skip`/`@include` honoured, aliases followed, merged
 * by response key, and on abstract types every possible object type apart (a field denied for one of them is denied).
 * Each shared selection is checked once, so the work is linear in the document. Each field's rule is evaluated with
 * no parent yet; a rule that needs the parent makes the field guarded. Fields below a denied field are not looked at:
 * they will not run. Introspection fields are left to the introspection setting.
 */
export async function checkOperation(input: {
  schema: GraphQLSchema;
  analysis: OperationAnalysis;
  policy: CompiledPolicy;
  context: AuthzContext;
}): Promise<OperationCheck> {
  const { schema, analysis, policy, context } = input;
  const { fragments, variables } = analysis;
  const check: OperationCheck = { denied: new Map(), guarded: new Set(), parentFields: new Map(), abstractSelections: new Set() };
  const checked = new Set<ObjectSelection>();

  const walk = async (selection: ObjectSelection, path: Path | undefined): Promise<void> => {
    if (checked.has(selection)) return;
    checked.add(selection);
    for (const field of selection.fields) {
      const { definition, parentType, fieldName, responseKey, nodes } = field;
      if (definition === undefined) continue;
      const info = {
        fieldName,
        fieldNodes: nodes,
        returnType: definition.type,
        parentType,
        path: { prev: path, key: responseKey, typename: parentType.name },
        schema,
        fragments,
        rootValue: undefined,
        operation: analysis.operation,
        variableValues: variables,
      } as GraphQLResolveInfo;
      const fieldPolicy = policy.field(parentType, fieldName);
      const decision = await evaluateRule(fieldPolicy.rule, NO_PARENT, { ...field.args }, context, info, policy.options);
      if (decision.kind === 'deny') {
        for (const node of nodes) if (!check.denied.has(node)) check.denied.set(node, decision.error);
        continue;
      }
      if (decision.kind === 'undecided') {
        for (const node of nodes) check.guarded.add(node);
        for (const container of field.containers) {
          const wanted = check.parentFields.get(container) ?? new Set<string>();
          for (const parentField of fieldPolicy.parentFields) wanted.add(parentField);
          check.parentFields.set(container, wanted);
        }
      }
      if (field.abstract) for (const node of nodes) if (node.selectionSet !== undefined) check.abstractSelections.add(node.selectionSet);
      for (const child of field.children) await walk(child, { prev: path, key: responseKey, typename: undefined });
    }
  };

  if (analysis.root !== undefined) await walk(analysis.root, undefined);
  return check;
}
