import {
  getArgumentValues,
  getNamedType,
  isAbstractType,
  isObjectType,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLError,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import { isIncluded, typeConditionApplies } from '../graphqlSelections.js';
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
 * Walks every field the operation will execute, as execution would: fragments expanded, `@skip`/`@include` honoured
 * with the coerced variables, aliases followed, and on abstract types every possible object type checked (a field
 * denied for one of them is denied). Each field's rule is evaluated with no parent yet; a rule that needs the parent
 * makes the field guarded. Fields below a denied field are not looked at: they will not run.
 * Introspection fields are left to the introspection setting.
 */
export async function checkOperation(input: {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fragments: Readonly<Record<string, FragmentDefinitionNode>>;
  variables: Record<string, unknown>;
  policy: CompiledPolicy;
  context: AuthzContext;
}): Promise<OperationCheck> {
  const { schema, operation, fragments, variables, policy, context } = input;
  const check: OperationCheck = { denied: new Map(), guarded: new Set(), parentFields: new Map(), abstractSelections: new Set() };
  const root = schema.getRootType(operation.operation);
  if (root === undefined || root === null) return check;

  const included = (selection: SelectionNode) => isIncluded(selection, variables);
  const applies = (typeCondition: FragmentDefinitionNode['typeCondition'] | undefined, type: GraphQLObjectType) => typeConditionApplies(schema, typeCondition, type);

  const walk = async (selectionSet: SelectionSetNode, possibleTypes: readonly GraphQLObjectType[], path: Path | undefined): Promise<void> => {
    for (const selection of selectionSet.selections) {
      if (!included(selection)) continue;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        await walk(selection.selectionSet, possibleTypes.filter((type) => applies(selection.typeCondition, type)), path);
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments[selection.name.value];
        if (fragment !== undefined) await walk(fragment.selectionSet, possibleTypes.filter((type) => applies(fragment.typeCondition, type)), path);
        continue;
      }
      const name = selection.name.value;
      if (name.startsWith('__')) continue;
      const responseKey = selection.alias?.value ?? name;
      const childTypes = new Set<GraphQLObjectType>();
      let abstract = false;
      for (const type of possibleTypes) {
        const definition = type.getFields()[name];
        if (definition === undefined) continue;
        const fieldPath: Path = { prev: path, key: responseKey, typename: type.name };
        const info = {
          fieldName: name,
          fieldNodes: [selection],
          returnType: definition.type,
          parentType: type,
          path: fieldPath,
          schema,
          fragments,
          rootValue: undefined,
          operation,
          variableValues: variables,
        } as GraphQLResolveInfo;
        const fieldPolicy = policy.field(type, name);
        const decision = await evaluateRule(fieldPolicy.rule, NO_PARENT, getArgumentValues(definition, selection, variables), context, info, policy.options);
        if (decision.kind === 'deny') {
          if (!check.denied.has(selection)) check.denied.set(selection, decision.error);
        } else if (decision.kind === 'undecided') {
          check.guarded.add(selection);
          const wanted = check.parentFields.get(selectionSet) ?? new Set<string>();
          for (const parentField of fieldPolicy.parentFields) wanted.add(parentField);
          check.parentFields.set(selectionSet, wanted);
        }
        const named = getNamedType(definition.type);
        if (isObjectType(named)) childTypes.add(named);
        else if (isAbstractType(named)) {
          abstract = true;
          for (const possible of schema.getPossibleTypes(named)) childTypes.add(possible);
        }
      }
      if (selection.selectionSet === undefined || check.denied.has(selection)) continue;
      if (abstract) check.abstractSelections.add(selection.selectionSet);
      await walk(selection.selectionSet, [...childTypes], { prev: path, key: responseKey, typename: undefined });
    }
  };

  await walk(operation.selectionSet, [root], undefined);
  return check;
}
