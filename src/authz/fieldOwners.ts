import { Kind, valueFromASTUntyped, type DirectiveNode, type DocumentNode } from 'graphql';

/**
 * Which subgraph resolves a field, read from the supergraph's join directives: the field's `@join__field(graph:)`,
 * else its type's only `@join__type(graph:)`. Used to look entities up for rules that need data the operation
 * does not carry.
 */
export function fieldOwners(document: DocumentNode): (typename: string, field: string) => string | undefined {
  const graphNames = new Map<string, string>();
  const owners = new Map<string, string>();
  const argument = (directive: DirectiveNode, name: string) => {
    const node = directive.arguments?.find((candidate) => candidate.name.value === name);
    return node === undefined ? undefined : valueFromASTUntyped(node.value);
  };

  for (const definition of document.definitions) {
    if (definition.kind === Kind.ENUM_TYPE_DEFINITION && definition.name.value === 'join__Graph') {
      for (const value of definition.values ?? []) {
        const joinGraph = value.directives?.find((directive) => directive.name.value === 'join__graph');
        const name = joinGraph === undefined ? undefined : argument(joinGraph, 'name');
        if (typeof name === 'string') graphNames.set(value.name.value, name);
      }
    }
  }
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.INTERFACE_TYPE_DEFINITION) continue;
    const typeGraphs = (definition.directives ?? []).filter((directive) => directive.name.value === 'join__type').map((directive) => String(argument(directive, 'graph')));
    for (const field of definition.fields ?? []) {
      const joinField = field.directives?.find((directive) => directive.name.value === 'join__field' && argument(directive, 'external') !== true);
      const graph = joinField === undefined ? (typeGraphs.length === 1 ? typeGraphs[0] : undefined) : String(argument(joinField, 'graph'));
      const subgraph = graph === undefined ? undefined : graphNames.get(graph);
      if (subgraph !== undefined) owners.set(`${definition.name.value}.${field.name.value}`, subgraph);
    }
  }
  return (typename, field) => owners.get(`${typename}.${field}`);
}
