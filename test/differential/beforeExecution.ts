import {
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isObjectType,
  Kind,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import type { MonolithContext } from './monolith.js';
import type { ShieldLayers } from './shieldLayers.js';

/**
 * The fields the gateway's design decides to deny before execution, each with the errors its denial may be reported
 * with: of every field the operation selects (fragments expanded, `@skip`/`@include` read with the variables), a
 * root field by its rules (its parent is the root value), any other when its rules deny whatever those of them that
 * may read the parent answer (see `decideWithoutParent`). Fields below a denied one are looked at too: the question
 * is only whether there is any. The demo schema has no abstract types.
 */
export async function denialsBeforeExecution(input: {
  schema: GraphQLSchema;
  document: DocumentNode;
  variables: Record<string, unknown>;
  layers: ShieldLayers;
  context: MonolithContext;
}): Promise<Error[][]> {
  const { schema, document, variables, layers, context } = input;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const operation = document.definitions.find((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  if (operation?.kind !== Kind.OPERATION_DEFINITION) throw new Error('no operation');
  const root = operation.operation === 'mutation' ? schema.getMutationType() : schema.getQueryType();
  if (!root) throw new Error(`no root type for ${operation.operation}`);

  const denials: Error[][] = [];
  const included = (node: { directives?: readonly DirectiveNode[] | undefined }) =>
    getDirectiveValues(GraphQLSkipDirective, node, variables)?.['if'] !== true && getDirectiveValues(GraphQLIncludeDirective, node, variables)?.['if'] !== false;

  const walk = async (selectionSet: SelectionSetNode, type: GraphQLObjectType): Promise<void> => {
    for (const selection of selectionSet.selections) {
      if (!included(selection)) continue;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        await walk(selection.selectionSet, type);
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (fragment === undefined) throw new Error(`no fragment ${selection.name.value}`);
        await walk(fragment.selectionSet, type);
        continue;
      }
      const fieldName = selection.name.value;
      if (fieldName.startsWith('__')) continue;
      const definition = type.getFields()[fieldName];
      if (definition === undefined) throw new Error(`no field ${type.name}.${fieldName}`);
      const args = getArgumentValues(definition, selection, variables);
      if (type === root) {
        const decision = await layers.decide(type.name, fieldName, undefined, args, context);
        if (decision !== true) denials.push([decision]);
      } else {
        const decision = await layers.decideWithoutParent(type.name, fieldName, args, context);
        if (decision.kind === 'deny') denials.push(decision.errors);
      }
      const named = getNamedType(definition.type);
      if (isObjectType(named) && selection.selectionSet !== undefined) await walk(selection.selectionSet, named);
    }
  };
  await walk(operation.selectionSet, root);
  return denials;
}
