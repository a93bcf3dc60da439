import { Kind, valueFromASTUntyped, type DirectiveNode, type DocumentNode } from 'graphql';

export interface ListSize {
  assumedSize?: number | undefined;
  slicingArguments?: readonly string[] | undefined;
}

/** The cost directives of a supergraph: `@cost(weight:)` on fields, types and arguments, `@listSize` on fields. */
export interface CostModel {
  fieldWeight(type: string, field: string): number | undefined;
  typeWeight(type: string): number | undefined;
  argumentWeight(type: string, field: string, argument: string): number | undefined;
  listSize(type: string, field: string): ListSize | undefined;
}

/**
 * Reads `@cost` and `@listSize` (Apollo's cost spec, the same semantics Apollo Router and Hive Gateway use) from the
 * supergraph SDL, where composition keeps them; the API schema the gateway serves does not carry them.
 */
export function costModel(supergraph: DocumentNode): CostModel {
  const fields = new Map<string, number>();
  const types = new Map<string, number>();
  const args = new Map<string, number>();
  const sizes = new Map<string, ListSize>();
  const argument = (directive: DirectiveNode, name: string) => {
    const node = directive.arguments?.find((candidate) => candidate.name.value === name);
    return node === undefined ? undefined : valueFromASTUntyped(node.value);
  };
  const weightOf = (directives: readonly DirectiveNode[] | undefined): number | undefined => {
    const cost = directives?.find((directive) => directive.name.value === 'cost');
    const weight = cost === undefined ? undefined : argument(cost, 'weight');
    return typeof weight === 'number' ? weight : undefined;
  };

  for (const definition of supergraph.definitions) {
    if (!('name' in definition) || definition.name === undefined || !('directives' in definition)) continue;
    const typeName = definition.name.value;
    const typeWeight = weightOf(definition.directives);
    if (typeWeight !== undefined) types.set(typeName, typeWeight);
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.INTERFACE_TYPE_DEFINITION) continue;
    for (const field of definition.fields ?? []) {
      const key = `${typeName}.${field.name.value}`;
      const weight = weightOf(field.directives);
      if (weight !== undefined) fields.set(key, weight);
      for (const arg of field.arguments ?? []) {
        const argWeight = weightOf(arg.directives);
        if (argWeight !== undefined) args.set(`${key}.${arg.name.value}`, argWeight);
      }
      const listSize = field.directives?.find((directive) => directive.name.value === 'listSize');
      if (listSize !== undefined) {
        const assumed = argument(listSize, 'assumedSize');
        const slicing = argument(listSize, 'slicingArguments');
        sizes.set(key, {
          assumedSize: typeof assumed === 'number' ? assumed : undefined,
          slicingArguments: Array.isArray(slicing) ? slicing.filter((name): name is string => typeof name === 'string') : undefined,
        });
      }
    }
  }
  return {
    fieldWeight: (type, field) => fields.get(`${type}.${field}`),
    typeWeight: (type) => types.get(type),
    argumentWeight: (type, field, arg) => args.get(`${type}.${field}.${arg}`),
    listSize: (type, field) => sizes.get(`${type}.${field}`),
  };
}
